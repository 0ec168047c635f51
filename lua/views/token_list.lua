-- views/token_list.lua -- one list of the tokens page: the table (fixed
-- column widths; descriptions clamped to two lines with the full text in
-- the title; keys on one line with a copy button), the column headers
-- that sort (links with aria-sort), the pager ("Page N of M", previous,
-- next, jump to a page), and what shows instead of rows: the empty
-- state, or a page past the end that links to the last page. Pure
-- functions of their data; every value is escaped by html.render.
local html = require "html"

local M = {}

local DAY = 86400
local DEFAULT_SCOPES = 63   -- authority.h SCOPE_USER_DEFAULT

-- One row, kept lean (a page holds up to 40 of them): no indentation;
-- the phone layout places the cells by their classes; the Activity line
-- (only when someone switched the token since its creation) opens over
-- the row so rows keep one height; every switch submits the page's one
-- "switches" form (which holds the CSRF token and the list's state) to
-- its own formaction, so it works without JavaScript.
local row_tpl = [[<tr data-key="{{key}}" id="row-{{key}}" class="{{state}}">{{{select}}}<td class="c-desc"><div class="clamp" title="{{description}}"><span class="desc">{{description}}</span>{{{dest}}}</div><span class="grant"><span class="scopes">{{scope_text}}</span>{{{ips}}}</span></td><td class="c-key"><span class="keybox"><code class="key" title="{{key}}">{{key}}</code><button type="button" class="copy small" data-copy-text="{{key}}" aria-label="Copy the key of {{description}}" hidden>Copy</button></span></td><td class="c-created"><time datetime="{{created_iso}}" title="{{created_text}}">{{created_day}}<span class="sr-only">{{created_hm}}</span></time>{{{by}}}</td><td class="c-expires expires">{{{expires}}}</td><td class="c-used last-used"><div>{{{last_used}}}</div></td><td class="c-active"><button form="switches" formaction="/settings/tokens/{{key}}/{{action}}" class="switch" id="switch-{{key}}" role="switch" aria-checked="{{checked}}" aria-label="Active: {{description}}" title="{{title}}" {{{autofocus}}}><span class="knob"></span><span class="state">{{onoff}}</span></button></td><td class="c-actions row-actions"><a href="/settings/tokens/{{key}}/rotate" aria-label="Rotate: {{description}}">Rotate</a> <a href="/settings/tokens/{{key}}/edit" aria-label="Edit: {{description}}">Edit</a>{{{change}}}</td></tr>
]]

local select_tpl = [[<td class="c-sel"><input type="checkbox" name="keys" value="{{key}}" form="bulk" class="pick" aria-label="Select: {{description}}"></td>]]
local by_tpl = [[<span class="by muted" title="Created by {{created_by}}">by {{created_by}}</span>]]
local dest_tpl = [[ <span class="dest">· {{destination}}</span>]]
local change_tpl = [[<details class="activity"><summary aria-label="Activity: {{description}}">Activity</summary><p>Created by {{created_by}} at <time datetime="{{created_iso}}">{{created_text}}</time>. Last change by {{updated_by}} at <time datetime="{{updated_iso}}">{{updated_text}}</time>.</p></details>]]
local used_tpl = [[<time datetime="{{last_used_iso}}" title="{{last_used_text}}">{{last_used_short}}<span class="sr-only">{{last_used_zone}}</span></time><br><span class="muted" title="{{last_used_ip}}">{{last_used_ip}}</span>]]
local ips_tpl = [[ <span class="ips" title="Works only from {{list}}">from {{first}}{{more}}</span>]]
local expires_tpl = [[<time datetime="{{expires_iso}}" title="{{expires_text}}" class="{{class}}">{{when}}<span class="sr-only">{{hm}}</span></time>]]

local NEVER = html.raw("never")
local NEVER_EXPIRES = html.raw('<span class="muted">never</span>')
local AUTOFOCUS = html.raw("autofocus")

-- "in 5 days", "in 3 hours", "in 12 minutes": secs ahead, to the nearest
-- unit (a token made "for 5 days" a minute ago expires in 5 days).
local function until_text(secs)
  local n, unit
  if secs >= 2 * DAY - 1800 then n, unit = (secs + DAY // 2) // DAY, "day"
  elseif secs >= 2 * 3600 - 30 then n, unit = (secs + 1800) // 3600, "hour"
  else n, unit = math.max(1, (secs + 30) // 60), "minute" end
  return string.format("in %d %s%s", n, unit, n == 1 and "" or "s")
end

-- The Expires cell: never, the date, "in 5 days" marked when within the
-- warning window, or "expired".
function M.expiry(t, now, warn_days)
  if not t.expires_at then return NEVER_EXPIRES end
  local left = t.expires_at - now
  -- The date; its time only for screen readers (the title has it too).
  local class, when = "", string.sub(t.expires_text or "", 1, 10)
  local hm = string.sub(t.expires_text or "", 11)
  if left <= 0 then
    class, when, hm = "expired", "expired", nil
  elseif left <= warn_days * DAY then
    class, when, hm = "expiring", until_text(left), nil
  end
  return html.render(expires_tpl, { expires_iso = t.expires_iso,
    expires_text = t.expires_text, class = class, when = when, hm = hm })
end

-- "default scopes" or the names, per mask (a handful of masks recur).
local summaries = {}

local function scope_summary(mask)
  local s = summaries[mask]
  if s then return s end
  if mask == DEFAULT_SCOPES then
    s = "default scopes"
  else
    s = table.concat(host.tokens.scope_names(mask), ", ")
    if s == "" then s = "no scopes" end
  end
  summaries[mask] = s
  return s
end

local function ips_badge(text)
  if not text or text == "" then return nil end
  local first, n = string.match(text, "^[^,]+"), 0
  for _ in string.gmatch(text, "[^,]+") do n = n + 1 end
  return html.render(ips_tpl, { list = string.gsub(text, ",", ", "),
    first = first, more = n > 1 and string.format(" +%d", n - 1) or nil })
end

-- t: a row of tokens_page (times already formatted by SQL); the fields
-- the row template needs besides are added to it, and it is rendered as
-- it is (no copy per row). ctx: { now, warn_days, admin, select, focus }.
function M.row(t, ctx)
  local active = t.active == 1 or t.active == true
  t.change = t.updated_by and html.render(change_tpl, t)
  if t.last_used_at then
    t.last_used_short = string.sub(t.last_used_text or "", 1, 16)
    t.last_used_zone = string.sub(t.last_used_text or "", 17)
    t.last_used = html.render(used_tpl, t)
  else
    t.last_used = NEVER
  end
  t.dest = t.destination and t.destination ~= t.description and
    html.render(dest_tpl, t)
  t.scope_text = scope_summary(t.scopes or 0)
  t.ips = ips_badge(t.allowed_ips)
  t.expires = M.expiry(t, ctx.now, ctx.warn_days)
  t.state = active and "active" or "inactive"
  t.action = active and "deactivate" or "activate"
  t.checked = active and "true" or "false"
  t.onoff = active and "On" or "Off"
  t.title = active and "Active: click to deactivate" or "Inactive: click to activate"
  t.select = ctx.select and html.render(select_tpl, t)
  t.by = ctx.admin and html.render(by_tpl, t)
  t.created_day = string.sub(t.created_text or "", 1, 10)
  t.created_hm = string.sub(t.created_text or "", 11)
  t.autofocus = ctx.focus == t.key and AUTOFOCUS or nil
  return html.render(row_tpl, t)
end

-- The column headers. A sortable one is a link to the other direction
-- (or, when not sorted by it, to its natural one) with aria-sort.
local th_tpl = [[<th scope="col" class="{{class}}">{{text}}</th>]]
local sort_tpl = [[<th scope="col" class="{{class}}" {{{aria}}}><a href="{{href}}" class="sort">{{text}}<span class="arrow" aria-hidden="true">{{arrow}}</span><span class="sr-only">{{hint}}</span></a></th>]]
local NATURAL = { created = "desc", last_used = "desc", expires = "asc",
  description = "asc" }

local function header(l, ctx, class, text, sort)
  if not sort or not ctx.st then
    return html.render(th_tpl, { class = class, text = text })
  end
  local st = ctx.st
  local on = st.sort == sort
  local dir = on and (st.dir == "asc" and "desc" or "asc") or NATURAL[sort]
  return html.render(sort_tpl, { class = class, text = text,
    href = ctx.href(st, { sort = sort, dir = dir, page = 1, focus = false,
      off = false }),
    aria = on and html.raw('aria-sort="' .. (st.dir == "asc" and "ascending"
      or "descending") .. '"'),
    arrow = on and (st.dir == "asc" and " ▲" or " ▼") or "",
    hint = on and (st.dir == "asc" and ", sorted ascending; sort descending"
      or ", sorted descending; sort ascending") or ", sort" })
end

local table_tpl = [[<div class="table-wrap"><table class="tokens{{{extra_class}}}" id="{{id}}">
  <colgroup>{{{cols}}}</colgroup>
  <thead><tr>{{{heads}}}</tr></thead>
  <tbody>{{{rows}}}</tbody>
</table></div>]]

local function heads(l, ctx)
  local sorted = ctx.sortable and ctx or {}
  local h = {}
  if ctx.select then
    h[#h + 1] = html.raw([[<th scope="col" class="c-sel"><input type="checkbox" class="pick-all" aria-label="Select all tokens on this page" hidden></th>]])
  end
  h[#h + 1] = header(l, sorted, "c-desc", "Description", "description")
  h[#h + 1] = header(l, {}, "c-key", "Key")
  h[#h + 1] = header(l, sorted, "c-created", "Created", "created")
  h[#h + 1] = header(l, sorted, "c-expires", "Expires", "expires")
  h[#h + 1] = header(l, sorted, "c-used", "Last used", "last_used")
  h[#h + 1] = header(l, {}, "c-active", "Active")
  h[#h + 1] = html.raw([[<th scope="col" class="c-actions"><span class="sr-only">Actions</span></th>]])
  return html.join(h)
end

local function cols(ctx)
  local c = {}
  if ctx.select then c[#c + 1] = [[<col class="w-sel">]] end
  c[#c + 1] = [[<col class="w-desc"><col class="w-key"><col class="w-created"><col class="w-expires"><col class="w-used"><col class="w-active"><col class="w-actions">]]
  return html.raw(table.concat(c))
end

local empty_tpl = [[<p class="empty" id="{{id}}">{{text}}</p>]]
local past_tpl = [[<p class="empty" id="{{id}}">Page {{page}} is past the end: there {{are}} {{pages}} page{{s}} of tokens. <a href="{{href}}" id="{{id}}-last">Go to the last page ({{pages}})</a></p>]]

local pager_tpl = [[<nav class="pager" aria-label="{{label}}">
  <span class="range">{{first}}–{{last}} of {{total}}</span>
  <span class="pages">{{{first_link}}} {{{prev}}} <span class="page-of">Page {{page}} of {{pages}}</span> {{{next}}} {{{last_link}}}</span>
  <form method="get" action="/settings/tokens" class="jump">{{{hidden}}}<label>Go to page <input type="number" name="{{param}}" min="1" max="{{pages}}" value="{{page}}" inputmode="numeric"></label> <button type="submit">Go</button></form>
</nav>]]
local link_tpl = [[<a class="button" {{{rel}}} href="{{href}}" aria-label="{{aria}}">{{text}}</a>]]
local hidden_tpl = [[<input type="hidden" name="{{name}}" value="{{value}}">]]

-- The state as hidden fields of a GET form (all but skip, a field name).
function M.hidden(st, skip)
  local out = {}
  local defaults = { q = "", scope = "", sort = "created", dir = "desc",
    page = 1, vpage = 1 }
  for _, name in ipairs({ "q", "scope", "sort", "dir", "page", "vpage" }) do
    local v = st[name]
    if name ~= skip and v ~= nil and v ~= defaults[name] then
      out[#out + 1] = html.render(hidden_tpl, { name = name, value = tostring(v) })
    end
  end
  return html.join(out)
end

local function pager(l, ctx)
  local st = ctx.st
  local function href(p)
    return ctx.href(st, { [l.param] = p, focus = false, off = false })
  end
  local function link(rel, p, text, aria)
    return html.render(link_tpl, { rel = rel and html.raw('rel="' .. rel .. '"'),
      href = href(p) .. "#" .. l.anchor, text = text, aria = aria })
  end
  return html.render(pager_tpl, {
    label = l.label, param = l.param,
    first = (l.page - 1) * l.per_page + 1,
    last = math.min(l.page * l.per_page, l.total),
    total = l.total, page = l.page, pages = l.pages,
    first_link = l.page > 2 and link(nil, 1, "« First", "First page"),
    prev = l.page > 1 and link("prev", l.page - 1, "‹ Previous", "Previous page"),
    next = l.page < l.pages and link("next", l.page + 1, "Next ›", "Next page"),
    last_link = l.page < l.pages - 1 and link(nil, l.pages, "Last »", "Last page"),
    hidden = M.hidden(st, l.param),
  })
end

-- l: { rows, total, page, pages, per_page, param, id, empty, label,
-- anchor }; ctx: { now, warn_days, admin, select, sortable, st, href,
-- focus }
function M.render(l, ctx)
  if #l.rows == 0 then
    if l.total > 0 then
      return html.render(past_tpl, { id = l.id, page = l.page, pages = l.pages,
        are = l.pages == 1 and "is" or "are", s = l.pages == 1 and "" or "s",
        href = ctx.href(ctx.st, { [l.param] = l.pages, focus = false,
          off = false }) .. "#" .. l.anchor })
    end
    return html.render(empty_tpl, { id = l.id, text = l.empty })
  end
  local rows = {}
  for i, t in ipairs(l.rows) do rows[i] = M.row(t, ctx) end
  local out = { html.render(table_tpl, { id = l.id, rows = html.join(rows),
    heads = heads(l, ctx), cols = cols(ctx),
    extra_class = html.raw((ctx.select and " selectable" or "") ..
      (ctx.admin and "" or " mine")) }) }
  if l.total > l.per_page then out[2] = pager(l, ctx) end
  return html.join(out)
end

return M
