-- cloudcode.size: sizes and durations as people write them.
local A = require "testlib"
local T = {}

function T.bytes_numbers()
  local size = require "cloudcode.size"
  A.eq(size.bytes(1048576), 1048576)
  A.eq(size.bytes(1024.0), 1024)
  A.eq(math.type(size.bytes(1024.0)), "integer")
  A.raises("", size.bytes, 1.5)
end

function T.bytes_units()
  local size = require "cloudcode.size"
  A.eq(size.bytes("512"), 512)
  A.eq(size.bytes("512b"), 512)
  A.eq(size.bytes("512k"), 512 * 1024)
  A.eq(size.bytes("512K"), 512 * 1024)
  A.eq(size.bytes("1kb"), 1024)
  A.eq(size.bytes("1KiB"), 1024)
  A.eq(size.bytes("64 MiB"), 64 * 1024 * 1024)
  A.eq(size.bytes("64m"), 64 * 1024 * 1024)
  A.eq(size.bytes("2G"), 2 * 1024 ^ 3)
  A.eq(size.bytes(" 1 gib "), 1024 ^ 3)
  A.eq(size.bytes("1.5k"), 1536)
  A.eq(size.bytes("0.5m"), 512 * 1024)
  A.eq(math.type(size.bytes("1.5k")), "integer")
end

function T.bytes_rejects()
  local size = require "cloudcode.size"
  A.raises("cannot read a size", size.bytes, "abc")
  A.raises("cannot read a size", size.bytes, "12 parsecs")
  A.raises("cannot read a size", size.bytes, "")
  A.raises("cannot read a size", size.bytes, "-1k")
  A.raises("cannot read a size", size.bytes, "1 k b")
  A.raises("", size.bytes, "1.2.3k")
end

function T.ms()
  local size = require "cloudcode.size"
  A.eq(size.ms(250), 250)
  A.eq(size.ms("1500ms"), 1500)
  A.eq(size.ms("30s"), 30000)
  A.eq(size.ms("1.5s"), 1500)
  A.eq(size.ms("10m"), 600000)
  A.eq(size.ms("10min"), 600000)
  A.eq(size.ms("2h"), 7200000)
  A.eq(size.ms(" 5 S "), 5000)
  A.eq(math.type(size.ms("1.5s")), "integer")
end

function T.ms_rejects()
  local size = require "cloudcode.size"
  A.raises("cannot read a duration", size.ms, "10")       -- a unit is required in text
  A.raises("cannot read a duration", size.ms, "10 days")
  A.raises("cannot read a duration", size.ms, "soon")
  A.raises("", size.ms, 0.5)
end

return T
