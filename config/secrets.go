package config

import (
	"fmt"
	"strings"
)

// maxSecretBytes bounds a provider key file.
const maxSecretBytes = 16 << 10

// Secrets maps a provider name to the key the sidecar sends it.
type Secrets map[string]string

// ResolveSecrets reads each provider's key from its env var or file. A
// missing key is not fatal (a catalog may list providers an installation
// does not use), but it is reported so an operator can act on it. A
// provider that names neither api_key_env nor api_key_file takes no key (a
// local or mock upstream): it gets an empty key and no warning, and
// Keyless lists it.
func ResolveSecrets(c *Catalog, getenv func(string) string, readFile func(string) ([]byte, error)) (Secrets, []string) {
	out := make(Secrets, len(c.Providers))
	var warnings []string
	for _, p := range c.Providers {
		var key string
		switch {
		case p.APIKeyFile != "":
			b, err := readFile(p.APIKeyFile)
			switch {
			case err != nil:
				warnings = append(warnings, fmt.Sprintf("provider %s: cannot read api_key_file: %v", p.Name, err))
			case len(b) > maxSecretBytes:
				warnings = append(warnings, fmt.Sprintf("provider %s: api_key_file is over %d bytes", p.Name, maxSecretBytes))
			default:
				key = strings.TrimSpace(string(b))
			}
		case p.APIKeyEnv != "":
			key = strings.TrimSpace(getenv(p.APIKeyEnv))
		}
		if key == "" && (p.APIKeyFile != "" || p.APIKeyEnv != "") {
			warnings = append(warnings, fmt.Sprintf("provider %s: no API key (set %s); its requests go out without one", p.Name, secretSource(p)))
		}
		if strings.ContainsAny(key, "\r\n\x00") {
			warnings = append(warnings, fmt.Sprintf("provider %s: API key holds a line break or NUL; ignored", p.Name))
			key = ""
		}
		out[p.Name] = key
	}
	return out, warnings
}

// Keyless returns, in catalog order, the providers that name neither
// api_key_env nor api_key_file: their requests go out without a key.
func Keyless(c *Catalog) []string {
	var out []string
	for _, p := range c.Providers {
		if p.APIKeyFile == "" && p.APIKeyEnv == "" {
			out = append(out, p.Name)
		}
	}
	return out
}

func secretSource(p Provider) string {
	if p.APIKeyFile != "" {
		return "api_key_file " + p.APIKeyFile
	}
	return "env " + p.APIKeyEnv
}
