import os

from openai import APIStatusError, OpenAI

client = OpenAI(
    base_url=os.environ.get("CPEN_BASE_URL", "http://localhost:10000/v1"),
    api_key=os.environ.get("CPEN_API_KEY", "cpen_live_demo_4f1c2b7e9a3d5c8b"),
)
messages = [{"role": "user", "content": "Hello"}]

# routing is not an OpenAI parameter: extra_body adds it to the JSON body.
# with_raw_response keeps the response headers next to the parsed answer.
raw = client.chat.completions.with_raw_response.create(
    model="cpen/middle",
    messages=messages,
    extra_body={"routing": {"max_total_per_1m": "0.30", "strategy": "balanced"}},
)
completion = raw.parse()
route = completion.to_dict()["cpen_route"]
print("route", route["route_id"], route["estimated_total_usd_per_1m"], route["reason_code"])
print("header", raw.headers["x-cpen-route-id"], raw.headers["x-ratelimit-limit-requests"])

# Streaming: the first chunk carries cpen_route, the last cpen_status.
stream = client.chat.completions.create(
    model="cpen/middle",
    messages=messages,
    stream=True,
    extra_body={"routing": {"strategy": "cheapest"}},
)
route_id, status, text = None, None, ""
for chunk in stream:
    extra = chunk.to_dict()
    route_id = route_id or extra.get("cpen_route", {}).get("route_id")
    status = extra.get("cpen_status", status)
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
print("stream", route_id, status, "text" if text else "no text")

# The sidecar's refusals say whether a retry can help (x-should-retry);
# the SDK obeys it, so these fail at once instead of being retried.
for model, routing in [("cpen/middle", {"max_total_per_1m": "0.01"}), ("cpen/high", {})]:
    try:
        client.chat.completions.create(model=model, messages=messages, extra_body={"routing": routing})
    except APIStatusError as err:
        print("refused", err.status_code, err.code, err.response.headers.get("x-should-retry"))
