-- wrk script: each request is a heartbeat from a different agent, with that
-- agent's token, as real agents send them.
--   wrk ... -s bench/heartbeat.lua URL -- IDS_FILE [metrics]
-- IDS_FILE holds "<agent_id> <agent_token>" lines (muster_load register --ids).
-- Threads start at evenly spaced agents and walk the list from there.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  agents = {}
  for line in io.lines(args[1]) do
    local id, token = line:match("^(%S+)%s*(%S*)")
    if id then table.insert(agents, {id = id, token = token}) end
  end
  local spacing = math.floor(#agents / 64)
  next_agent = (index * spacing) % #agents
  body = '{"status":"online"}'
  -- "metrics" after the ids file: each heartbeat carries 8 metrics (bench/run metrics).
  if args[2] == "metrics" then
    body = '{"status":"online","metrics":{"cpu":0.42,"memory_bytes":4012345678,"error_rate":0.003,' ..
           '"latency_ms":21.5,"logs_processed":123456,"errors_total":17,"queue_len":3,"disk_free_bytes":51234567890}}'
  end
end

function request()
  next_agent = next_agent % #agents + 1
  local agent = agents[next_agent]
  local headers = {["Content-Type"] = "application/json"}
  if agent.token ~= "" then headers["Authorization"] = "Bearer " .. agent.token end
  return wrk.format("POST", "/api/v1/agents/" .. agent.id .. "/heartbeat", headers, body)
end
