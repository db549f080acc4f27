-- wrk script: POST /api/rank, 100 random items for a random user (USERS users, ITEMS items).
local users = tonumber(os.getenv("USERS") or "100000")
local items = tonumber(os.getenv("ITEMS") or "100000")
math.randomseed(os.time())
request = function()
  local ids = {}
  for k = 1, 100 do
    ids[k] = '"i' .. math.random(0, items - 1) .. '"'
  end
  local body = '{"user_id": "u' .. math.random(0, users - 1) .. '", "item_ids": [' .. table.concat(ids, ",") .. ']}'
  return wrk.format("POST", "/api/rank", {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
