<?php
// check.php -- the bench's PHP-FPM peer: Tessera's /api/me token check as
// many teams would write it in PHP 8.2 (PDO SQLite, sodium), run by
// php-fpm with pm = static and the same worker count, opcache on.
//
// Basic credentials decoded (strict base64), the key's and the secret's
// shape checked, one indexed lookup of the key in Tessera's own database
// (a persistent PDO connection, opened read-only), the secret's BLAKE2b-256
// keyed with Tessera's pepper (sodium_crypto_generichash, as token.c),
// compared in constant time with the stored hash and with the one a
// rotation left in its grace, the token, its user and its account active
// and the token not expired; then the same headers and JSON body as
// Tessera's /api/me. Any failure: 401 with Tessera's body. A token limited
// to addresses (allowed_ips) is refused: this peer does not parse CIDRs.
//
// The pool's environment gives TESSERA_DB (the database file) and
// TESSERA_PEPPER (the pepper, hex).

const SQL = 'SELECT t.secret_hash, t.prev_secret_hash, t.prev_expires_at, '
    . 't.active, u.active, a.active, t.expires_at, t.allowed_ips, '
    . 't.description, t.key, t.kind, t.scopes, u.id, u.email, a.id, a.name '
    . 'FROM tokens t JOIN users u ON u.id = t.user_id '
    . 'JOIN accounts a ON a.id = t.account_id WHERE t.key = ?';
const SCOPES = ['objects:read', 'objects:write', 'pipelines:run',
    'webhook:write', 'records:read', 'tokens:read', 'tokens:write', 'via:read'];

function common_headers(): void
{
    header('Content-Type: application/json');
    header("Content-Security-Policy: default-src 'none'; frame-ancestors 'none'");
    header('X-Content-Type-Options: nosniff');
    header('Cache-Control: no-store');
}

function refuse(): never
{
    $body = '{"error":"INVALID_TOKEN","message":"missing, invalid or inactive '
        . 'credentials","success":false}';
    http_response_code(401);
    common_headers();
    header('WWW-Authenticate: Basic realm="Tessera API", charset="UTF-8"');
    header('Content-Length: ' . strlen($body));
    echo $body;
    exit;
}

$auth = $_SERVER['HTTP_AUTHORIZATION'] ?? '';
if (strncasecmp($auth, 'Basic ', 6) !== 0) {
    refuse();
}
$raw = base64_decode(substr($auth, 6), true);
$colon = $raw === false ? false : strpos($raw, ':');
if ($colon === false) {
    refuse();
}
$key = substr($raw, 0, $colon);
$secret = substr($raw, $colon + 1);
if (!preg_match('/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/D', $key)
    || strlen($secret) !== 53 || strncmp($secret, 'tsr_', 4) !== 0) {
    refuse();
}

$db = new PDO('sqlite:' . getenv('TESSERA_DB'), null, null, [
    PDO::ATTR_PERSISTENT => true,
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    PDO::SQLITE_ATTR_OPEN_FLAGS => PDO::SQLITE_OPEN_READONLY,
]);
$st = $db->prepare(SQL);
$st->execute([$key]);
$row = $st->fetch(PDO::FETCH_NUM);
$st->closeCursor();
$h = sodium_crypto_generichash($secret, sodium_hex2bin(getenv('TESSERA_PEPPER')), 32);
if ($row === false) {
    refuse();
}
$now = time();
$good = hash_equals((string)$row[0], $h);
$good_prev = $row[1] !== null && hash_equals((string)$row[1], $h) && $row[2] > $now;
$expires = $row[6];
if (!($good || $good_prev) || $row[3] != 1 || $row[4] != 1 || $row[5] != 1
    || ($expires !== null && $expires <= $now) || $row[7] !== '') {
    refuse();
}

$scopes = [];
foreach (SCOPES as $bit => $name) {
    if ($row[11] & (1 << $bit)) {
        $scopes[] = $name;
    }
}
$body = json_encode([
    'data' => [
        'account' => ['id' => (int)$row[14], 'name' => $row[15]],
        'token' => [
            'description' => $row[8],
            'expires_at' => $expires === null ? null : gmdate('Y-m-d\TH:i:s\Z', $expires),
            'key' => $row[9],
            'kind' => $row[10],
            'scopes' => $scopes,
        ],
        'user' => ['email' => $row[13], 'id' => (int)$row[12]],
    ],
    'success' => true,
], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
common_headers();
header('Content-Length: ' . strlen($body));
echo $body;
