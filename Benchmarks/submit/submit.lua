-- wrk script for `make bench-submit`: every request is a different labeler's ranking of a
-- different prompt, read from the plan bench_submit.py writes. Each wrk thread takes every
-- n-th line, so no ranking is submitted twice.
local plan = {}
local threads = {}
local counter = 1

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local stride = tonumber(args[2])
  local position = 0
  for line in io.lines(args[1]) do
    if position % stride == index then
      local token, path, body = line:match("^(%S+)\t(%S+)\t(.+)$")
      table.insert(plan, wrk.format("POST", path, {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body))
    end
    position = position + 1
  end
end

function request()
  local next = plan[counter]
  counter = counter + 1
  if next == nil then
    -- Out of planned rankings: a request the server refuses cheaply (and wrk counts as non-2xx).
    return wrk.format("GET", "/health/none")
  end
  return next
end
