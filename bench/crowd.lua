-- wrk script: a flash crowd of distinct customers, one POST each (bench/load.py runs it).
--   wrk -t C -c C -d 900s --timeout 120s -s bench/crowd.lua URL -- JOBS OUT PATH C [PREFER]
-- JOBS holds one line per request, "token event_id". With one connection per thread, thread k
-- sends lines k, k+C, k+2C, ... one after the other and records, per request: status, send and
-- receive times (wall clock, microseconds: comparable with the database's timestamps), the id
-- and error code in the body, and the server's Bench-* headers; when its share is answered it
-- writes OUT/thread-k.tsv and stops.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(0, clock)  -- CLOCK_REALTIME
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local jobs, rows, next_job, sent_at, out_dir, path, headers, spare

local function write_rows()
  local f = io.open(out_dir .. "/thread-" .. tid .. ".tsv", "w")
  f:write(table.concat(rows, "\n"))
  if #rows > 0 then f:write("\n") end
  f:close()
end

function init(args)
  local jobs_file, threads, prefer = args[1], tonumber(args[4]), args[5]
  out_dir, path = args[2], args[3]
  jobs, rows, next_job = {}, {}, 1
  local i = 0
  for line in io.lines(jobs_file) do
    if i % threads == tid then
      local token, event = line:match("^(%S+)%s+(%S+)")
      jobs[#jobs + 1] = {token, event}
    end
    i = i + 1
  end
  headers = {["Content-Type"] = "application/json"}
  if prefer and prefer ~= "" then headers["Prefer"] = prefer end
  spare = wrk.format("GET", "/health/")
  if #jobs == 0 then write_rows() end
end

function request()
  local job = jobs[next_job]
  if job == nil then return spare end  -- the thread stops on its last answer: never sent
  headers["Authorization"] = "Token " .. job[1]
  sent_at = now_us()
  return wrk.format("POST", path, headers, '{"event": ' .. job[2] .. '}')
end

function response(status, hdrs, body)
  local received = now_us()
  local id = body:match('"id":%s*"([^"]+)"') or body:match('"id":%s*(%d+)') or "-"
  local code = body:match('"code":%s*"([^"]+)"') or "-"
  rows[#rows + 1] = table.concat({
    status, string.format("%.0f", sent_at), string.format("%.0f", received), id, code,
    hdrs["Bench-Queries"] or "-", hdrs["Bench-Lock-Hold-Us"] or "-",
    hdrs["Bench-Lock-Statements"] or "-", hdrs["Preference-Applied"] or "-",
  }, "\t")
  next_job = next_job + 1
  if next_job > #jobs then
    write_rows()
    wrk.thread:stop()
  end
end
