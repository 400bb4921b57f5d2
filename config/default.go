package config

import _ "embed"

//go:embed default_catalog.yaml
var defaultCatalog []byte

// DefaultCatalogYAML returns the embedded default catalog file.
func DefaultCatalogYAML() []byte {
	return append([]byte(nil), defaultCatalog...)
}

// Default loads the embedded default catalog.
func Default() (*Catalog, error) {
	return Load(defaultCatalog)
}
