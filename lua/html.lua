-- html.lua -- HTML templates, escaped by default (rendered by the host in
-- C: see host.html in the README).
--
--   html.render('<p class="{{cls}}">{{user.email}}</p>', data)
--
-- {{ name }} or {{ a.b.c }} is looked up in data and HTML-escaped;
-- {{{ name }}} inserts a value made by html.raw() unescaped (anything
-- else there is an error, so a plain string can never slip in raw).
-- nil and false render as nothing. Templates are parsed once and cached.
-- render() returns an html.raw value, so fragments nest.

local M = {}

M.escape = host.html.escape
M.raw = host.html.raw
M.is_raw = host.html.is_raw
M.render = host.html.render

-- Joins a list of raw fragments into one (without copying them: the
-- fragments are copied once, into whatever renders the result).
M.join = host.html.join

return M
