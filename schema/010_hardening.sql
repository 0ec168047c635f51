-- 010: the second hardening round (step 8).
--
-- A session's CSRF token is derived from its cookie value with the pepper
-- (fcgi/domain/auth.c auth_csrf_of) instead of being stored in plain text. Forms
-- opened before the upgrade ask for a reload once.
ALTER TABLE sessions DROP COLUMN csrf;
