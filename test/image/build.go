package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the timestamp of every file and config entry, so that the same
// binary and Dockerfile always give the same image digest.
func epoch() time.Time { return time.Unix(0, 0).UTC() }

// Build makes the image of a static Linux binary: no base layers (an empty
// root filesystem, as FROM scratch), one layer holding the binary where the
// stage's COPY puts it, mode 0755, owned by the COPY's uid:gid, and the
// stage's entrypoint, user, working directory and labels.
func Build(binary []byte, st Stage) (v1.Image, error) {
	osName, arch, err := Platform(binary)
	if err != nil {
		return nil, err
	}
	layerTar, err := binaryLayer(binary, st)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: arch,
		OS:           osName,
		Created:      v1.Time{Time: epoch()},
		Config: v1.Config{
			Entrypoint: st.Entrypoint,
			User:       st.User,
			WorkingDir: st.WorkingDir,
			Labels:     st.Labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: epoch()},
			CreatedBy: fmt.Sprintf("COPY --chown=%s cpen-extproc %s", st.Owner, st.Binary),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	return img, nil
}

// binaryLayer is an uncompressed layer tar holding only the binary.
func binaryLayer(binary []byte, st Stage) ([]byte, error) {
	uid, gid, err := parseOwner(st.Owner)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		// Layer paths are relative to the root filesystem.
		Name:    strings.TrimPrefix(st.Binary, "/"),
		Mode:    0o755,
		Uid:     uid,
		Gid:     gid,
		Size:    int64(len(binary)),
		ModTime: epoch(),
		Format:  tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// parseOwner reads a numeric "uid:gid".
func parseOwner(owner string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(owner, ":")
	if !ok {
		return 0, 0, fmt.Errorf("owner %q is not uid:gid", owner)
	}
	if uid, err = strconv.Atoi(u); err != nil {
		return 0, 0, fmt.Errorf("owner %q: %w", owner, err)
	}
	if gid, err = strconv.Atoi(g); err != nil {
		return 0, 0, fmt.Errorf("owner %q: %w", owner, err)
	}
	return uid, gid, nil
}
