-- wrk script: GET /api/recommend/u<random user>?n=10 over USERS users.
local users = tonumber(os.getenv("USERS") or "100000")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/recommend/u" .. math.random(0, users - 1) .. "?n=10")
end
response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
