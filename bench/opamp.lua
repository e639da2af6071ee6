-- wrk script: each request is an OpAMP status report (AgentToServer over
-- HTTP) from a different agent, with that agent's token, its instance_uid
-- and the next sequence number, as an OpAMP client sends a heartbeat.
--   wrk ... -s bench/opamp.lua URL -- IDS_FILE
-- IDS_FILE holds "<agent_id> <agent_token>" lines (muster_load register --ids).
-- Each wrk thread takes every Nth agent, so that one agent's sequence numbers
-- come from one thread, in order.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
  for _, t in ipairs(threads) do t:set("thread_count", #threads) end
end

-- The agent id (a UUID) as the 16 bytes of an instance_uid.
local function uid_of(id)
  local hex = id:gsub("-", "")
  return (hex:gsub("..", function(byte) return string.char(tonumber(byte, 16)) end))
end

local function varint(value)
  local out = {}
  repeat
    local byte = value % 128
    value = math.floor(value / 128)
    if value > 0 then byte = byte + 128 end
    table.insert(out, string.char(byte))
  until value == 0
  return table.concat(out)
end

function init(args)
  agents = {}
  local count = 0
  for line in io.lines(args[1]) do
    local id, token = line:match("^(%S+)%s*(%S*)")
    if id then
      if count % thread_count == index then
        table.insert(agents, {uid = uid_of(id), token = token, sequence = 0})
      end
      count = count + 1
    end
  end
  next_agent = 0
end

function request()
  next_agent = next_agent % #agents + 1
  local agent = agents[next_agent]
  agent.sequence = agent.sequence + 1
  -- AgentToServer: instance_uid (field 1, bytes), sequence_num (field 2),
  -- capabilities (field 4: ReportsStatus | ReportsHeartbeat).
  local body = "\10\16" .. agent.uid .. "\16" .. varint(agent.sequence) .. "\32" .. varint(8193)
  local headers = {["Content-Type"] = "application/x-protobuf", ["Authorization"] = "Bearer " .. agent.token}
  return wrk.format("POST", "/v1/opamp", headers, body)
end
