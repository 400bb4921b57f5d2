package tests

import (
	"strings"
	"testing"
)

// schemaError is how Helm reports values that values.schema.json refuses.
const schemaError = "values don't meet the specifications of the schema(s) in the following chart(s):\ncpen-router:\n"

// TestValuesRefused: wrong values fail helm template (and so helm install) under both Helm
// releases, each with a message that names the value and what is wrong with it. Type and range
// errors come from values.schema.json; rules spanning several values from the templates.
func TestValuesRefused(t *testing.T) {
	tests := []struct {
		name   string
		values string // a values file's content
		want   string // the message, exactly as Helm prints it (after "Error: ")
	}{
		{"wrong mode", "mode: sidecar",
			schemaError + "- at '/mode': value must be one of 'gateway', 'extproc'"},
		{"negative replica count", "replicaCount: -1",
			schemaError + "- at '/replicaCount': minimum: got -1, want 0"},
		{"replica count as text", `replicaCount: "2"`,
			schemaError + "- at '/replicaCount': got string, want integer"},
		{"misspelt top-level value", "replicas: 2",
			schemaError + "- at '': additional properties 'replicas' not allowed"},
		{"misspelt nested value", "redis: {adress: r:6379}",
			schemaError + "- at '/redis': additional properties 'adress' not allowed"},
		{"Redis password key without the Secret's name", "redis: {address: r:6379, passwordSecret: {key: password}}",
			schemaError + "- at '/redis/passwordSecret/name': minLength: got 0, want 1"},
		{"Redis password Secret without its key", "redis: {address: r:6379, passwordSecret: {name: redis-auth}}",
			schemaError + "- at '/redis/passwordSecret/key': minLength: got 0, want 1"},
		{"provider-keys Secret name not a Kubernetes name", "providerKeys: {existingSecret: Provider_Keys}",
			schemaError + `- at '/providerKeys/existingSecret': 'Provider_Keys' does not match pattern '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$'`},
		{"drain delay without a unit", "extproc: {drainDelay: \"5\"}",
			schemaError + "- at '/extproc/drainDelay': '5' does not match pattern '^[0-9]{1,4}s$'"},
		{"port out of range", "envoy: {port: 70000}",
			schemaError + "- at '/envoy/port': maximum: got 70,000, want 65,535"},
		{"Redis address without a port", "redis: {address: redis.cache}",
			schemaError + "- at '/redis/address': 'redis.cache' does not match pattern '^([^:/\\\\s]+:[0-9]{1,5})?$'"},

		{"required keys without a Secret", "providerKeys: {optional: false}",
			"providerKeys.optional: false requires the provider-keys Secret; name it in providerKeys.existingSecret"},
		{"trial Secret without keys", "providerKeys: {create: true}",
			"providerKeys.values: providerKeys.create needs the keys to put in the Secret (ENV_NAME: key)"},
		{"keys without creating the Secret", "providerKeys: {values: {OPENAI_API_KEY: sk-x}}",
			"providerKeys.values: set providerKeys.create: true to put these keys in a Secret, or move them to the Secret named by providerKeys.existingSecret"},
		{"two Secrets", "providerKeys: {create: true, existingSecret: keys, values: {A: b}}",
			"providerKeys: set providerKeys.existingSecret or providerKeys.create, not both"},
		{"two Redis", "redis: {enabled: true, address: r:6379}",
			"redis: set redis.address (a Redis you run) or redis.enabled (one the chart runs), not both"},
		{"password for the bundled Redis", "redis: {enabled: true, passwordSecret: {name: a, key: b}}",
			"redis.passwordSecret: the bundled Redis (redis.enabled) has no password; passwordSecret is for redis.address"},
		{"TLS without an address", "redis: {tls: true}",
			"redis.passwordSecret and redis.tls apply to redis.address, which is empty"},
		{"two catalogs", "catalog: {existingConfigMap: c, inline: {fee_rate: \"0\"}}",
			"catalog: set catalog.inline or catalog.existingConfigMap, not both"},
		{"existing catalog without its providers (gateway)", "catalog: {existingConfigMap: team-catalog}",
			"catalog.providers: list the providers ({name, cluster, authority, api_key_env}) of the catalog in catalog.existingConfigMap; the chart cannot read that ConfigMap, and Envoy needs a cluster per provider"},
		{"existing catalog without its providers (keys)", "mode: extproc\ncatalog: {existingConfigMap: team-catalog}\nproviderKeys: {existingSecret: keys}",
			"catalog.providers: list the providers ({name, cluster, authority, api_key_env}) of the catalog in catalog.existingConfigMap; the chart cannot read that ConfigMap, and the pod needs a key variable per provider"},
		{"providers beside an inline catalog", "catalog: {providers: [{cluster: c, authority: a.example}]}",
			"catalog.providers: only for catalog.existingConfigMap; otherwise the providers come from the catalog itself"},
		{"provider authority with a scheme", "catalog: {inline: {providers: [{name: a, cluster: provider_a, authority: \"https://a.example\"}]}}",
			`catalog: provider cluster "provider_a" has authority "https://a.example"; Envoy needs a DNS name, optionally with :port`},
		{"one cluster, two authorities", "catalog: {inline: {providers: [{name: a, cluster: c, authority: a.example}, {name: b, cluster: c, authority: b.example}]}}",
			`catalog: cluster "c" has two authorities, "a.example" and "b.example"`},
		{"key variable that is not a name", "catalog: {inline: {providers: [{name: a, cluster: c, authority: a.example, api_key_env: OPENAI-KEY}]}}",
			`catalog: provider a has api_key_env "OPENAI-KEY", not an environment variable name`},
		{"autoscaling bounds reversed", "autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 2}",
			"autoscaling: minReplicas 5 is above maxReplicas 2"},
		{"network policy without Envoy's labels (extproc)", "mode: extproc\nnetworkPolicy: {enabled: true}",
			"networkPolicy.envoySelector: in mode extproc give the labels of the Envoy pods allowed to reach the gRPC port"},
		{"ports clash in the pod", "envoy: {adminPort: 9902}",
			"extproc.adminPort and envoy.adminPort are both 9902; the pod's containers share one network namespace"},
		{"grace period inside the drain", "terminationGracePeriodSeconds: 25",
			"terminationGracePeriodSeconds: 25 must exceed the 25 s the drain takes (mode gateway, drainDelay 5s, drainTimeout 15s)"},
		{"grace period inside the drain (extproc)", "mode: extproc\nterminationGracePeriodSeconds: 20\nextproc: {drainDelay: 10s}",
			"terminationGracePeriodSeconds: 20 must exceed the 25 s the drain takes (mode extproc, drainDelay 10s, drainTimeout 15s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := valuesFile(t, tt.values+"\n")
			for _, v := range []helmVersion{helm3, helm4} {
				got := helmMessage(renderError(t, v, []string{file}))
				if got != tt.want {
					t.Errorf("%s says\n%s\nwant\n%s", v, got, tt.want)
				}
			}
		})
	}
}

// helmMessage is the message of Helm's error output: after "Error: ", without the location a
// template's fail carries and without the hint Helm appends.
func helmMessage(stderr string) string {
	msg := strings.TrimSpace(stderr)
	msg = strings.TrimPrefix(msg, "Error: ")
	if i := strings.Index(msg, "\n\nUse --debug flag"); i >= 0 {
		msg = msg[:i]
	}
	if strings.HasPrefix(msg, "execution error at (") {
		if i := strings.Index(msg, "): "); i >= 0 {
			msg = msg[i+3:]
		}
	}
	return strings.TrimSpace(msg)
}

// TestValuesAccepted: the edges of the rules above are accepted.
func TestValuesAccepted(t *testing.T) {
	for _, values := range []string{
		"replicaCount: 0",
		"extproc: {drainDelay: 0s, drainTimeout: 0s}",
		"redis: {address: r:6379, passwordSecret: {name: redis-auth, key: password}, tls: true}",
		"providerKeys: {optional: false, existingSecret: keys}",
		"mode: extproc\ncatalog: {existingConfigMap: team-catalog}",
		"mode: extproc\ncatalog: {existingConfigMap: c, providers: [{name: a, cluster: c, authority: a.example, api_key_env: A}]}\nproviderKeys: {existingSecret: keys}",
		"podDisruptionBudget: {enabled: true, minAvailable: 50%}",
		"terminationGracePeriodSeconds: 26",
	} {
		renderSet(t, []string{valuesFile(t, values+"\n")})
	}
}
