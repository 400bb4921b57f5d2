package tracing

import (
	"fmt"
	"strings"
)

// UnsupportedError reports an environment variable whose value this package
// does not support, so the operator sees the variable, the value and what
// would work instead.
type UnsupportedError struct {
	Var       string   // the environment variable
	Value     string   // its value, trimmed
	Supported []string // the values that are supported
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("tracing: %s=%q is not supported; supported values: %s",
		e.Var, e.Value, strings.Join(e.Supported, ", "))
}
