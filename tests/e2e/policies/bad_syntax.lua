-- tests/e2e/policies/bad_syntax.lua — a syntax error (--check must name this file and line).
local x = 1
local t = {
  role = "backend",
  listen = "127.0.0.1:8080" "oops", -- @error-line
}
return t
