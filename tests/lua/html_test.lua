-- host.html: templates, raw values and joins (lua-test: no server).
local tap = require "tap"
local html = host.html

local r = html.render("<p class=\"{{c}}\">{{t}}</p>", { c = "a\"b", t = "<x>&" })
tap.ok(html.is_raw(r), "render returns a raw value")
tap.is(r.html, '<p class="a&quot;b">&lt;x&gt;&amp;</p>', "values are escaped")
tap.raises(function() html.render("{{{x}}}", { x = "<b>" }) end,
  "html.raw", "a plain string cannot fill a raw hole")

local rows = {}
for i = 1, 3 do rows[i] = html.render("<li>{{n}}</li>", { n = i .. "<" }) end
local list = html.join(rows)
tap.ok(html.is_raw(list), "join returns a raw value")
local page = html.render("<ul>{{{items}}}</ul>", { items = list })
tap.is(page.html, "<ul><li>1&lt;</li><li>2&lt;</li><li>3&lt;</li></ul>",
  "a joined value renders its parts in order, each escaped once")
tap.is(list.html, "<li>1&lt;</li><li>2&lt;</li><li>3&lt;</li>",
  ".html of a joined value is the parts in order")
tap.is(list.html, "<li>1&lt;</li><li>2&lt;</li><li>3&lt;</li>",
  "... and stays the same when read again")
local nested = html.join({ html.raw("<hr>"), list, html.join({}) })
tap.is(html.render("{{{x}}}", { x = nested }).html,
  "<hr><li>1&lt;</li><li>2&lt;</li><li>3&lt;</li>", "joins nest; an empty join is empty")
rows[1] = html.raw("changed")
tap.is(html.render("{{{x}}}", { x = list }).html:sub(1, 9), "<li>1&lt;",
  "changing the list after join changes nothing")
tap.raises(function() html.join({ html.raw("a"), "b" }) end,
  "item 2 is not one", "join refuses a plain string")
tap.raises(function() html.join("x") end, "table expected",
  "join takes a list")

-- Joins of joins cannot make the C side copy without bound.
local big = html.raw(string.rep("x", 1000))
local l1 = {}
for i = 1, 1000 do l1[i] = big end
local j1 = html.join(l1)
local l2 = {}
for i = 1, 1000 do l2[i] = j1 end
local j2 = html.join(l2)
tap.raises(function() return html.render("{{{x}}}", { x = j2 }) end,
  "too large", "a 1 GB join is refused, not built")
tap.raises(function() return j2.html end, "too large",
  "... also when its .html is read")
tap.is(#html.render("{{{x}}}", { x = j1 }).html, 1000000,
  "a 1 MB join still renders")

-- Escaping: each of the five bytes, at the ends, in runs, beside a NUL,
-- in long text, and every byte value compared with a plain Lua escaper.
local esc = host.html.escape
tap.is(esc("&<>\"'"), "&amp;&lt;&gt;&quot;&#39;", "the five bytes are escaped")
tap.is(esc("<a>"), "&lt;a&gt;", "a special byte first and last")
tap.is(esc(""), "", "the empty string")
tap.is(esc("a\0<\0b"), "a\0&lt;\0b", "a NUL byte is kept and does not end the string")
tap.is(esc(12), "12", "a number")
local function slow(s)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&#39;" }))
end
local all = {}
for b = 0, 255 do all[#all + 1] = string.char(b) .. "x" end
all = table.concat(all)
tap.is(esc(all), slow(all), "every byte value escapes as a plain escaper does")
local long = string.rep("plain text ", 500) .. "&" .. string.rep("z", 3000) .. "'"
tap.is(esc(long), slow(long), "long text with a special byte far in")
tap.is(html.render("{{a}}|{{b}}", { a = all, b = long }).html,
  slow(all) .. "|" .. slow(long), "render escapes as escape does")

return tap.done()
