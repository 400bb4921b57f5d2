package image

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// base is a two-stage Dockerfile in the shape of the project's.
const base = `# comment
ARG GO=1.26
FROM golang:${GO} AS build
RUN echo building \
    # a comment inside a continuation

    && go build
FROM scratch
ARG VERSION=dev
ARG REV
LABEL a.source="https://example.com/x" \
      # comment and blank lines inside a continuation are dropped

      a.version="${VERSION}" a.rev=$REV \
      'a.quoted'='single $VERSION' a.escaped="say \"hi\" \$5"
copy --from=build --chown=10:20 /out/bin /app/bin
USER 10:20
WORKDIR /srv
ENTRYPOINT ["/app/bin", "--flag"]
`

func TestFinalStage(t *testing.T) {
	tests := []struct {
		name string
		args map[string]string
		want Stage
	}{
		{
			name: "defaults",
			args: map[string]string{"REV": "abc"},
			want: Stage{
				Entrypoint: []string{"/app/bin", "--flag"},
				User:       "10:20",
				WorkingDir: "/srv",
				Binary:     "/app/bin",
				Owner:      "10:20",
				Labels: map[string]string{
					"a.source":  "https://example.com/x",
					"a.version": "dev",
					"a.rev":     "abc",
					"a.quoted":  "single $VERSION",
					"a.escaped": `say "hi" $5`,
				},
			},
		},
		{
			name: "build args override defaults",
			args: map[string]string{"VERSION": "v2", "REV": ""},
			want: Stage{
				Entrypoint: []string{"/app/bin", "--flag"},
				User:       "10:20",
				WorkingDir: "/srv",
				Binary:     "/app/bin",
				Owner:      "10:20",
				Labels: map[string]string{
					"a.source":  "https://example.com/x",
					"a.version": "v2",
					"a.rev":     "",
					"a.quoted":  "single $VERSION",
					"a.escaped": `say "hi" $5`,
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FinalStage([]byte(base), tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Only the last stage counts: an earlier stage's instructions, even ones
// the daemonless build cannot reproduce, are ignored.
func TestFinalStageIgnoresEarlierStages(t *testing.T) {
	df := "FROM a\nUSER 1:1\nENTRYPOINT sh -c x\nENV X=1\nFROM scratch\nCOPY --chown=2:2 b /b\nUSER 2:2\nENTRYPOINT [\"/b\"]\n"
	got, err := FinalStage([]byte(df), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Stage{Entrypoint: []string{"/b"}, User: "2:2", WorkingDir: "/", Labels: map[string]string{}, Binary: "/b", Owner: "2:2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestFinalStageRefuses(t *testing.T) {
	const tail = "COPY --chown=1:1 b /b\nUSER 1:1\nENTRYPOINT [\"/b\"]\n"
	tests := []struct {
		name string
		df   string
		args map[string]string
		want string // in the error
	}{
		{"no FROM", "ARG X\n", nil, "no FROM"},
		{"instruction before FROM", "RUN x\nFROM scratch\n" + tail, nil, "line 1: RUN before the first FROM"},
		{"shell-form entrypoint", "FROM scratch\nCOPY --chown=1:1 b /b\nUSER 1:1\nENTRYPOINT /b\n", nil, "line 4: ENTRYPOINT /b is not a non-empty exec-form array"},
		{"empty entrypoint", "FROM scratch\nCOPY --chown=1:1 b /b\nUSER 1:1\nENTRYPOINT []\n", nil, "exec-form"},
		{"no entrypoint", "FROM scratch\nCOPY --chown=1:1 b /b\nUSER 1:1\n", nil, "no ENTRYPOINT"},
		{"no user", "FROM scratch\nCOPY --chown=1:1 b /b\nENTRYPOINT [\"/b\"]\n", nil, "no USER"},
		{"relative workdir", "FROM scratch\nWORKDIR app\n" + tail, nil, `WORKDIR "app" is not absolute`},
		{"ENV in the final stage", "FROM scratch\nENV A=1\n" + tail, nil, "line 2: ENV: not reproduced"},
		{"CMD in the final stage", "FROM scratch\n" + tail + "CMD [\"x\"]\n", nil, "line 5: CMD: not reproduced"},
		{"two copies", "FROM scratch\nCOPY --chown=1:1 a /a\n" + tail, nil, "2 COPY instructions"},
		{"no copy", "FROM scratch\nUSER 1:1\nENTRYPOINT [\"/b\"]\n", nil, "0 COPY instructions"},
		{"copy without chown", "FROM scratch\nCOPY b /b\nUSER 1:1\nENTRYPOINT [\"/b\"]\n", nil, `--chown "" is not a numeric`},
		{"copy with named owner", "FROM scratch\nCOPY --chown=app:app b /b\nUSER 1:1\nENTRYPOINT [\"/b\"]\n", nil, "not a numeric uid:gid"},
		{"copy into a directory", "FROM scratch\nCOPY --chown=1:1 b /bin/\nUSER 1:1\nENTRYPOINT [\"/b\"]\n", nil, "not an absolute file path"},
		{"copy of two sources", "FROM scratch\nCOPY --chown=1:1 a b /b\nUSER 1:1\nENTRYPOINT [\"/b\"]\n", nil, "COPY of 2 sources"},
		{"copy --chmod", "FROM scratch\nCOPY --chmod=0700 --chown=1:1 b /b\nUSER 1:1\nENTRYPOINT [\"/b\"]\n", nil, "COPY --chmod: not reproduced"},
		{"legacy label form", "FROM scratch\nLABEL a b\n" + tail, nil, `LABEL "a" is not key=value`},
		{"label without key", "FROM scratch\nLABEL =b\n" + tail, nil, "has no key"},
		{"undeclared variable", "FROM scratch\nLABEL a=$NOPE\n" + tail, nil, "$NOPE is not an ARG of the final stage"},
		{"arg of an earlier stage", "FROM a\nARG V=1\nFROM scratch\nLABEL a=${V}\n" + tail, nil, "$V is not an ARG"},
		{"arg without a value", "FROM scratch\nARG V\nLABEL a=${V}\n" + tail, nil, "ARG V has no default"},
		{"variable modifier", "FROM scratch\nARG V\nLABEL a=${V:-x}\n" + tail, nil, "not reproduced"},
		{"lone dollar", "FROM scratch\nLABEL a=5$\n" + tail, nil, "a lone $"},
		{"unterminated quote", "FROM scratch\nLABEL a=\"b\n" + tail, nil, "unterminated \" quote"},
		{"undeclared build arg", "FROM scratch\n" + tail, map[string]string{"VERSION": "1"}, "build arg VERSION is not declared"},
		{"bad arg name", "FROM scratch\nARG 1X=2\n" + tail, nil, `ARG name "1X"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FinalStage([]byte(tc.df), tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FinalStage = %+v, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
}

// The refusals of constructs the build cannot reproduce are typed.
func TestFinalStageUnsupportedIsTyped(t *testing.T) {
	_, err := FinalStage([]byte("FROM scratch\nHEALTHCHECK NONE\n"), nil)
	if !errors.Is(err, errUnsupported) {
		t.Fatalf("error %v does not match errUnsupported", err)
	}
}
