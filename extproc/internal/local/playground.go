package local

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/cpen/router/extproc/internal/stream"
)

// Playground makes the processors of GET /playground.
func Playground(cfg *Config) stream.Factory { return factory(cfg, playground) }

// playground answers GET /playground: a page to try route selection as a
// guest (2 requests per minute per address).
func playground(_ *local, h *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if err := onlyGet(h); err != nil {
		return nil, err
	}
	return stream.Immediate(200, []byte(playgroundHTML), "cpen_playground", [][2]string{{"content-type", "text/html; charset=utf-8"}}), nil
}

const playgroundHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CPEN Router playground</title>
<style>body{font:15px system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0 .2rem}input,select,textarea{width:100%;padding:.3rem}
pre{background:#f4f4f4;padding:.8rem;overflow:auto}</style></head>
<body><h1>CPEN Router playground</h1>
<p>Try route selection under a price cap as a guest: 2 requests per minute per address.</p>
<label>Tier <select id="model"><option>cpen/low</option><option selected>cpen/middle</option><option>cpen/high</option></select></label>
<label>Max total, USD per 1M tokens <input id="max" value="0.30"></label>
<label>Strategy <select id="strategy"><option>balanced</option><option>cheapest</option><option>continuity</option></select></label>
<label>Message <textarea id="msg" rows="3">Classify: the parcel arrived late.</textarea></label>
<p><button id="go">Send</button></p><pre id="out"></pre>
<script>
document.getElementById("go").onclick = async () => {
  const v = id => document.getElementById(id).value;
  const body = {model: v("model"), messages: [{role: "user", content: v("msg")}],
    routing: {max_total_per_1m: v("max"), strategy: v("strategy")}};
  const r = await fetch("/playground/v1/chat/completions", {method: "POST",
    headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
  const j = await r.json().catch(() => ({}));
  document.getElementById("out").textContent = r.status + "\n" + JSON.stringify(j.cpen_route || j, null, 2);
};
</script></body></html>
`
