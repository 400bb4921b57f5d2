// Package image builds the sidecar's container image without a Docker
// daemon: no base image, one layer holding the static binary, and the
// entrypoint, user, working directory and labels of the Dockerfile's final
// stage, read from the Dockerfile itself so the two cannot drift apart.
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Stage is what the daemonless build takes from the Dockerfile's final stage.
type Stage struct {
	// Entrypoint is the exec-form ENTRYPOINT.
	Entrypoint []string
	// User is the USER, "uid" or "uid:gid".
	User string
	// WorkingDir is the WORKDIR, "/" when the stage sets none.
	WorkingDir string
	// Labels are the LABELs, ARG references expanded.
	Labels map[string]string
	// Binary is where the stage's one COPY puts the binary, and Owner the
	// numeric uid:gid it gives it (--chown).
	Binary string
	Owner  string
}

// errUnsupported marks a Dockerfile construct the daemonless build cannot
// reproduce; the Dockerfile must stay within what it understands.
var errUnsupported = errors.New("not reproduced by the daemonless build")

// argName is a build argument's name as Dockerfiles accept it.
var argName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// numericOwner is a uid:gid pair of numbers.
var numericOwner = regexp.MustCompile(`^[0-9]+:[0-9]+$`)

// FinalStage reads a Dockerfile and returns its last stage. Label values
// may use the stage's ARGs ($NAME or ${NAME}); args overrides their
// defaults, as `docker build --build-arg` does. An argument the stage does
// not declare, or a reference to one that has no value, is an error rather
// than the empty string Docker would use, so that a typo cannot slip through.
func FinalStage(dockerfile []byte, args map[string]string) (Stage, error) {
	all := instructions(string(dockerfile))
	stages := 0
	for _, ins := range all {
		if ins.stage == 0 && ins.cmd != "ARG" {
			// ARGs before the first FROM only parameterise FROM lines.
			return Stage{}, fmt.Errorf("line %d: %s before the first FROM", ins.line, ins.cmd)
		}
		stages = ins.stage
	}
	if stages == 0 {
		return Stage{}, errors.New("no FROM")
	}
	st := Stage{WorkingDir: "/", Labels: map[string]string{}}
	vars := map[string]*string{} // the stage's ARGs; a nil default means none
	copies := 0
	for _, ins := range all {
		// Earlier stages run in the Docker build only; the final stage
		// must stay within what the daemonless build reproduces.
		if ins.stage != stages || ins.cmd == "FROM" {
			continue
		}
		var err error
		switch ins.cmd {
		case "ARG":
			err = parseArgs(ins.rest, vars)
		case "LABEL":
			err = parseLabels(ins.rest, vars, args, st.Labels)
		case "USER":
			st.User = ins.rest
		case "WORKDIR":
			st.WorkingDir = ins.rest
		case "ENTRYPOINT":
			st.Entrypoint, err = parseExecForm(ins.rest)
		case "COPY":
			copies++
			st.Binary, st.Owner, err = parseCopy(ins.rest)
		default:
			err = fmt.Errorf("%s: %w", ins.cmd, errUnsupported)
		}
		if err != nil {
			return Stage{}, fmt.Errorf("line %d: %w", ins.line, err)
		}
	}
	for name := range args {
		if _, ok := vars[name]; !ok {
			return Stage{}, fmt.Errorf("build arg %s is not declared in the final stage", name)
		}
	}
	switch {
	case len(st.Entrypoint) == 0:
		return Stage{}, errors.New("the final stage has no ENTRYPOINT")
	case st.User == "":
		return Stage{}, errors.New("the final stage has no USER")
	case !path.IsAbs(st.WorkingDir):
		return Stage{}, fmt.Errorf("WORKDIR %q is not absolute", st.WorkingDir)
	case copies != 1:
		return Stage{}, fmt.Errorf("the final stage has %d COPY instructions, want the binary's one", copies)
	}
	return st, nil
}

// instruction is one logical Dockerfile line.
type instruction struct {
	line  int    // where it starts, from 1
	cmd   string // upper case
	rest  string
	stage int // how many FROMs came before it, itself included
}

// instructions joins continuation lines and drops comments and blank lines.
// Comment and blank lines inside a continuation are dropped too, as Docker
// does.
func instructions(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	start, stage := 0, 0
	for n, raw := range strings.Split(src, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if cur.Len() == 0 {
			start = n + 1
		}
		cont := strings.HasSuffix(line, `\`)
		line = strings.TrimSuffix(line, `\`)
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(strings.TrimSpace(line))
		if cont {
			continue
		}
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{line: start, cmd: cmd, rest: strings.TrimSpace(rest), stage: stage})
		cur.Reset()
	}
	return out
}

// parseArgs records `ARG NAME[=default] ...`.
func parseArgs(rest string, vars map[string]*string) error {
	words, err := splitWords(rest, nil, nil)
	if err != nil {
		return err
	}
	for _, w := range words {
		name, def, hasDef := strings.Cut(w.text, "=")
		if !argName.MatchString(name) {
			return fmt.Errorf("ARG name %q", name)
		}
		if hasDef {
			vars[name] = &def
		} else {
			vars[name] = nil
		}
	}
	return nil
}

// parseLabels records `LABEL key=value ...`; the legacy `LABEL key value`
// form is refused.
func parseLabels(rest string, vars map[string]*string, args map[string]string, labels map[string]string) error {
	words, err := splitWords(rest, vars, args)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return errors.New("LABEL without key=value")
	}
	for _, w := range words {
		if w.eq < 0 {
			return fmt.Errorf("LABEL %q is not key=value", w.text)
		}
		key, val := w.text[:w.eq], w.text[w.eq+1:]
		if key == "" {
			return fmt.Errorf("LABEL %q has no key", w.text)
		}
		labels[key] = val
	}
	return nil
}

// parseExecForm reads a JSON array of strings, the only ENTRYPOINT form
// that runs without a shell.
func parseExecForm(rest string) ([]string, error) {
	var argv []string
	if err := json.Unmarshal([]byte(rest), &argv); err != nil || len(argv) == 0 {
		return nil, fmt.Errorf("ENTRYPOINT %s is not a non-empty exec-form array: %w", rest, errUnsupported)
	}
	return argv, nil
}

// parseCopy reads `COPY --from=... --chown=uid:gid src dest`, the one way
// the final stage may get its binary.
func parseCopy(rest string) (dest, owner string, err error) {
	words := strings.Fields(rest)
	var paths []string
	for _, w := range words {
		flag, val, _ := strings.Cut(w, "=")
		switch {
		case flag == "--chown":
			owner = val
		case flag == "--from" || flag == "--link":
		case strings.HasPrefix(w, "--"):
			return "", "", fmt.Errorf("COPY %s: %w", flag, errUnsupported)
		default:
			paths = append(paths, w)
		}
	}
	if len(paths) != 2 {
		return "", "", fmt.Errorf("COPY of %d sources to one file: %w", len(paths)-1, errUnsupported)
	}
	dest = paths[1]
	if !path.IsAbs(dest) || strings.HasSuffix(dest, "/") {
		return "", "", fmt.Errorf("COPY destination %q is not an absolute file path", dest)
	}
	if !numericOwner.MatchString(owner) {
		return "", "", fmt.Errorf("COPY --chown %q is not a numeric uid:gid", owner)
	}
	return path.Clean(dest), owner, nil
}

// word is one whitespace-separated word after quote removal and variable
// expansion; eq is the index in text of its first '=' that was neither
// quoted, escaped nor expanded, or -1.
type word struct {
	text string
	eq   int
}

// splitWords splits on unquoted whitespace, removes quotes and
// backslash escapes, and expands $NAME and ${NAME} outside single quotes.
// With vars nil, a '$' is kept as it is (ARG defaults are not expanded).
func splitWords(s string, vars map[string]*string, args map[string]string) ([]word, error) {
	var out []word
	var b strings.Builder
	eq, inWord := -1, false
	var quote byte
	flush := func() {
		if inWord {
			out = append(out, word{text: b.String(), eq: eq})
		}
		b.Reset()
		eq, inWord = -1, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t'):
			flush()
			continue
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote != 0 && c == quote:
			quote = 0
		case c == '\\' && quote != '\'':
			if i+1 == len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			if quote == '"' && !strings.ContainsRune(`"\$`, rune(s[i])) {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		case c == '$' && quote != '\'' && vars != nil:
			name, n, err := varRef(s[i:])
			if err != nil {
				return nil, err
			}
			val, err := lookup(name, vars, args)
			if err != nil {
				return nil, err
			}
			b.WriteString(val)
			i += n - 1
		case c == '=' && quote == 0 && eq < 0:
			eq = b.Len()
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
		inWord = true
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	flush()
	return out, nil
}

// varRef reads $NAME or ${NAME} at the start of s and returns the name and
// the bytes it spans. Modifiers such as ${NAME:-default} are refused.
func varRef(s string) (name string, n int, err error) {
	if strings.HasPrefix(s, "${") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated %s", s)
		}
		name = s[2:end]
		if !argName.MatchString(name) {
			return "", 0, fmt.Errorf("variable %s: %w", strconv.Quote(s[:end+1]), errUnsupported)
		}
		return name, end + 1, nil
	}
	n = 1
	for n < len(s) && (s[n] == '_' || ('0' <= s[n] && s[n] <= '9') || ('a' <= s[n]|0x20 && s[n]|0x20 <= 'z')) {
		n++
	}
	name = s[1:n]
	if !argName.MatchString(name) {
		return "", 0, fmt.Errorf("a lone $ in %q", s)
	}
	return name, n, nil
}

// lookup is an ARG's value: the build arg if given, else its default.
func lookup(name string, vars map[string]*string, args map[string]string) (string, error) {
	def, declared := vars[name]
	if !declared {
		return "", fmt.Errorf("$%s is not an ARG of the final stage", name)
	}
	if v, ok := args[name]; ok {
		return v, nil
	}
	if def == nil {
		return "", fmt.Errorf("ARG %s has no default and no build arg sets it", name)
	}
	return *def, nil
}
