package image

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildArgs is a repeatable NAME=VALUE flag, like docker build's.
type buildArgs map[string]string

func (b buildArgs) String() string { return fmt.Sprint(map[string]string(b)) }

func (b buildArgs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	b[k] = v
	return nil
}

// Main is the mkimage command: it checks the binary, builds its image from
// the Dockerfile's final stage and writes it as a tarball in the format of
// `docker save` (loadable by `docker load` and `podman load`, pushable with
// `crane push`).
func Main(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binPath := fs.String("binary", "", "the static cpen-extproc binary (required)")
	dockerfile := fs.String("dockerfile", "Dockerfile", "the Dockerfile whose final stage gives entrypoint, user, workdir and labels")
	out := fs.String("out", "", "the image tarball to write (required)")
	tag := fs.String("tag", "cpen-extproc:dev", "the image name recorded in the tarball")
	bargs := buildArgs{}
	fs.Var(bargs, "build-arg", "NAME=VALUE for an ARG of the final stage (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binPath == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("--binary and --out are required, and nothing else")
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("--tag: %w", err)
	}
	df, err := os.ReadFile(*dockerfile)
	if err != nil {
		return err
	}
	st, err := FinalStage(df, bargs)
	if err != nil {
		return fmt.Errorf("%s: %w", *dockerfile, err)
	}
	binary, err := os.ReadFile(*binPath)
	if err != nil {
		return err
	}
	if err := CheckBuild(binary); err != nil {
		return fmt.Errorf("%s: %w", *binPath, err)
	}
	img, err := Build(binary, st)
	if err != nil {
		return fmt.Errorf("%s: %w", *binPath, err)
	}
	// Written beside the target and renamed, so a failed run leaves no
	// half tarball under the final name.
	tmp := *out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		os.Remove(tmp)
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %s %s/%s %s, %d bytes (binary %d bytes)\n",
		*out, ref, cfg.OS, cfg.Architecture, digest, fi.Size(), len(binary))
	return nil
}
