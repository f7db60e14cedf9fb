package prover

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// ErrCorruptLayers reports layer files that cannot continue the checkpointed tree.
var ErrCorruptLayers = errors.New("corrupt layer files")

// layerHeights lists the heights of the layer files in dir, ascending.
func layerHeights(dir string) ([]uint, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var hs []uint
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "layercache_")
		if !ok {
			continue
		}
		s, ok = strings.CutSuffix(s, ".bin")
		if !ok {
			continue
		}
		h, err := strconv.ParseUint(s, 10, 8)
		if err != nil || h >= posw.MaxHeight {
			continue
		}
		hs = append(hs, uint(h))
	}
	return hs, nil
}

func removeLayerFiles(dir string) error {
	hs, err := layerHeights(dir)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if err := os.Remove(layerFile(dir, h)); err != nil {
			return fmt.Errorf("removing layer %d: %w", h, err)
		}
	}
	return nil
}

// recover reopens the tree of a checkpoint of N > 0 leaves. Layer files longer than the
// checkpoint are cut back and shorter ones are an error; parked nodes come from the
// files; the layers above the top file (memory layers, and file layers the round that
// wrote the directory kept in memory) are rebuilt by hashing up the top file layer. The
// tail of the tree is then re-derived and compared, so damaged files fail here, not in a
// proof.
func (r *round) recover() error {
	n := r.state.Execution.NumLeaves
	hs, err := layerHeights(r.cfg.Dir)
	if err != nil {
		return err
	}
	found := uint(0)
	for _, h := range hs {
		if h == found && n>>h > 0 {
			found++
		}
	}
	if found == 0 {
		return fmt.Errorf("%w: checkpoint of %d leaves but no layercache_0.bin", ErrCorruptLayers, n)
	}
	for _, h := range hs {
		if h >= found {
			if err := os.Remove(layerFile(r.cfg.Dir, h)); err != nil {
				return fmt.Errorf("removing layer %d beyond the checkpoint: %w", h, err)
			}
		}
	}
	for h := uint(0); h < found; h++ {
		path := layerFile(r.cfg.Dir, h)
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("inspecting layer %d: %w", h, err)
		}
		want := int64(n>>h) * posw.NodeSize
		switch {
		case fi.Size() < want:
			return fmt.Errorf("%w: %s has %d bytes, the checkpoint of %d leaves needs %d", ErrCorruptLayers, path, fi.Size(), n, want)
		case fi.Size() > want:
			if err := os.Truncate(path, want); err != nil {
				return fmt.Errorf("truncating layer %d to the checkpoint: %w", h, err)
			}
		}
	}
	l := openLayers(r.cfg.Dir, max(found, r.cfg.DiskLayers), r.cfg.TreeFileBuffer)
	r.layers = l
	var parked posw.Parked
	err = func() error {
		for h := uint(0); h < found; h++ {
			if (n>>h)&1 == 1 {
				if err := l.ReadNode(h, n>>h-1, &parked[h]); err != nil {
					return err
				}
			}
		}
		if err := r.rebuild(found-1, n>>(found-1), &parked); err != nil {
			return err
		}
		if err := <-l.checkpoint(func() error { return nil }); err != nil {
			return err
		}
		return r.checkTail(n)
	}()
	if err != nil {
		l.close()
		return err
	}
	r.builder = posw.ResumeBuilder(r.hasher, l, n, &parked)
	r.cfg.Progress.leaves.Store(n)
	r.cfg.Progress.resumedFrom.Store(n)
	r.cfg.Progress.checkpointLeaves.Store(n)
	r.cfg.Logger.Info("round resumed", "leaves", n, "diskLayers", l.disk)
	return nil
}

// rebuild streams the m nodes of file layer top and hashes them up, appending the
// nodes above top to the layers and setting the parked nodes above top.
func (r *round) rebuild(top uint, m uint64, parked *posw.Parked) error {
	f, err := os.Open(layerFile(r.cfg.Dir, top))
	if err != nil {
		return fmt.Errorf("opening layer %d: %w", top, err)
	}
	defer f.Close()
	rd := bufio.NewReaderSize(f, 1<<20)
	var node posw.Node
	for j := uint64(0); j < m; j++ {
		if _, err := io.ReadFull(rd, node[:]); err != nil {
			return fmt.Errorf("reading node %d of layer %d: %w", j, top, err)
		}
		h := top
		for x := j; x&1 == 1; x >>= 1 {
			r.hasher.Merkle(&node, parked[h][:], node[:])
			h++
			r.layers.AppendNode(h, &node)
		}
		parked[h] = node
	}
	return nil
}

// checkTail recomputes the last label from its parked nodes and the last node of every
// layer from its children, and compares them with what the layers hold.
func (r *round) checkTail(n uint64) error {
	var got, want posw.Node
	last := n - 1
	var lp posw.Parked
	for m := last; m != 0; m &= m - 1 {
		h := uint(bits.TrailingZeros64(m))
		if err := r.layers.ReadNode(h, last>>h-1, &lp[h]); err != nil {
			return err
		}
	}
	r.hasher.Label(&want, last, &lp)
	if err := r.layers.ReadNode(0, last, &got); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: label %d does not match its parked nodes", ErrCorruptLayers, last)
	}
	for h := uint(1); n>>h > 0; h++ {
		j := n>>h - 1
		var a, b posw.Node
		if err := r.layers.ReadNode(h-1, 2*j, &a); err != nil {
			return err
		}
		if err := r.layers.ReadNode(h-1, 2*j+1, &b); err != nil {
			return err
		}
		r.hasher.Merkle(&want, a[:], b[:])
		if err := r.layers.ReadNode(h, j, &got); err != nil {
			return err
		}
		if !bytes.Equal(got[:], want[:]) {
			return fmt.Errorf("%w: node %d at height %d does not match its children", ErrCorruptLayers, j, h)
		}
	}
	return nil
}
