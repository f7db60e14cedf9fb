package registration

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// storeWithData makes a closed store with members and a proof.
func storeWithData(t *testing.T) *testEnv {
	t.Helper()
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	for i := range uint64(50) {
		mustSubmit(t, r, newNode(i).request(r, challenge(i)))
	}
	if err := r.SaveProof(provenRound(t, 7, [][]byte{challenge(1)}, 150)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := CheckStore(env.path); err != nil {
		t.Fatalf("an intact store fails the check: %v", err)
	}
	return env
}

// Issue 10, row 7: registrations.db truncated to 8 KiB or with bytes flipped crashed the
// process (SIGBUS in bbolt, or panic: freepages: … multiple references). Now opening it
// is an error a person can act on, and poet db check says the same offline.
func TestDamagedStoreIsAnActionableError(t *testing.T) {
	damage := map[string]func(t *testing.T, path string, data []byte){
		"truncated to 8 KiB": func(t *testing.T, path string, _ []byte) {
			if err := os.Truncate(path, 8<<10); err != nil {
				t.Fatal(err)
			}
		},
		"both meta pages flipped": func(t *testing.T, path string, data []byte) {
			ps := binary.LittleEndian.Uint32(data[metaOffset+8:])
			data[metaOffset+20] ^= 0xff
			data[int(ps)+metaOffset+20] ^= 0xff
			writeFile(t, path, data)
		},
		"root page trashed": func(t *testing.T, path string, data []byte) {
			ps := int(binary.LittleEndian.Uint32(data[metaOffset+8:]))
			root := newestRoot(data, ps)
			for i := root * ps; i < (root+1)*ps; i++ {
				data[i] = 0xa5
			}
			writeFile(t, path, data)
		},
		"page headers of every data page flipped": func(t *testing.T, path string, data []byte) {
			ps := int(binary.LittleEndian.Uint32(data[metaOffset+8:]))
			for off := 2 * ps; off+16 <= len(data); off += ps {
				data[off+8] ^= 0x13  // flags
				data[off+10] ^= 0x40 // count
			}
			writeFile(t, path, data)
		},
	}
	for name, do := range damage {
		t.Run(name, func(t *testing.T) {
			env := storeWithData(t)
			data, err := os.ReadFile(env.path)
			if err != nil {
				t.Fatal(err)
			}
			do(t, env.path, data)
			err = CheckStore(env.path)
			wantErr(t, err, ErrCorruptStore)
			_, err = Open(env.path, testSchedule(), env.cfg, env.opts...)
			wantErr(t, err, ErrCorruptStore)
			t.Logf("%v", err)
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// newestRoot is the root bucket's page of the newer meta page.
func newestRoot(data []byte, ps int) int {
	m0, _ := parseMeta(data)
	m1, _ := parseMeta(data[ps:])
	off := metaOffset
	if m1.txid > m0.txid {
		off += ps
	}
	return int(binary.LittleEndian.Uint64(data[off+16:]))
}

// Bytes flipped anywhere in the data pages never crash the check or Open: the store is
// either reported damaged or opens (a flip inside a value is not structural damage;
// stored proofs have their own checksum).
func TestRandomFlipsNeverCrash(t *testing.T) {
	env := storeWithData(t)
	orig, err := os.ReadFile(env.path)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(orig[metaOffset+8:]))
	used := int(min(uint64(len(orig)), newestPgid(orig, ps)*uint64(ps)))
	rng := rand.New(rand.NewPCG(10, 7))
	damaged := 0
	for range 150 {
		data := slices.Clone(orig)
		for range 1 + rng.IntN(8) {
			data[2*ps+rng.IntN(used-2*ps)] ^= byte(1 + rng.IntN(255))
		}
		writeFile(t, env.path, data)
		err := CheckStore(env.path)
		if err != nil {
			wantErr(t, err, ErrCorruptStore)
			damaged++
			continue
		}
		r, err := Open(env.path, testSchedule(), env.cfg, env.opts...)
		if err != nil {
			wantErr(t, err, ErrCorruptStore)
			damaged++
			continue
		}
		_ = r.Close()
	}
	t.Logf("%d of 150 damaged files reported", damaged)
}

func newestPgid(data []byte, ps int) uint64 {
	m0, _ := parseMeta(data)
	m1, _ := parseMeta(data[ps:])
	return max(m0.pgid, m1.pgid)
}
