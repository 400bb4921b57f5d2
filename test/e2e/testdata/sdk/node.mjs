import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.CPEN_BASE_URL ?? "http://localhost:10000/v1",
  apiKey: process.env.CPEN_API_KEY ?? "cpen_live_demo_4f1c2b7e9a3d5c8b",
});
const messages = [{ role: "user", content: "Hello" }];

// routing goes at the top level of the request; the SDK sends it as is.
// withResponse() keeps the response headers next to the parsed answer.
const { data: completion, response } = await client.chat.completions
  .create({ model: "cpen/middle", messages, routing: { max_total_per_1m: "0.30", strategy: "balanced" } })
  .withResponse();
const route = completion.cpen_route;
console.log("route", route.route_id, route.estimated_total_usd_per_1m, route.reason_code);
console.log("header", response.headers.get("x-cpen-route-id"), response.headers.get("x-ratelimit-limit-requests"));

// Streaming: the first chunk carries cpen_route, the last cpen_status.
const stream = await client.chat.completions.create({
  model: "cpen/middle",
  messages,
  stream: true,
  routing: { strategy: "cheapest" },
});
let routeId, status, text = "";
for await (const chunk of stream) {
  routeId ??= chunk.cpen_route?.route_id;
  status = chunk.cpen_status ?? status;
  text += chunk.choices[0]?.delta?.content ?? "";
}
console.log("stream", routeId, status, text ? "text" : "no text");

// The sidecar's refusals say whether a retry can help (x-should-retry);
// the SDK obeys it, so these fail at once instead of being retried.
for (const [model, routing] of [["cpen/middle", { max_total_per_1m: "0.01" }], ["cpen/high", {}]]) {
  try {
    await client.chat.completions.create({ model, messages, routing });
  } catch (err) {
    if (!(err instanceof OpenAI.APIError)) throw err;
    console.log("refused", err.status, err.code, err.headers.get("x-should-retry"));
  }
}
