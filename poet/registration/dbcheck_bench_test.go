package registration

import "testing"

// BenchmarkCheckStoreMillion is the start-up cost of the consistency check on a store
// holding one round of 1,000,000 registrations.
func BenchmarkCheckStoreMillion(b *testing.B) {
	env := newEnv(b, Config{MaxRoundMembers: 1 << 32})
	fillRound(b, env, 1_000_000, true)
	for b.Loop() {
		if err := CheckStore(env.path); err != nil {
			b.Fatal(err)
		}
	}
}
