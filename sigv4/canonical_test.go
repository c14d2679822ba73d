package sigv4

import (
	"bytes"
	"fmt"
	"testing"
)

// The signing keys kept by SigningKey are the ones derived afresh, per
// secret, day, region and service, also once the store has been emptied
// for being full.
func TestSigningKey_KeptKeysAreDerivedKeys(t *testing.T) {
	for round := 0; round < 2; round++ {
		for i := 0; i < maxSigningKeys+10; i++ {
			secret, day := fmt.Sprintf("secret-%d", i%7), fmt.Sprintf("202601%02d", 1+i%28)
			region := fmt.Sprintf("region-%d", i)
			got := SigningKey(secret, day, region, "s3")
			if want := deriveSigningKey(secret, day, region, "s3"); !bytes.Equal(got, want) {
				t.Fatalf("round %d, key %d: kept %x, derived %x", round, i, got, want)
			}
		}
		signingKeys.Lock()
		n := len(signingKeys.m)
		signingKeys.Unlock()
		if n == 0 || n > maxSigningKeys {
			t.Fatalf("%d keys kept, bound %d", n, maxSigningKeys)
		}
	}
	// Every part of the scope selects its own key.
	base := SigningKey("s", "20260101", "r", "s3")
	for _, k := range [][]byte{SigningKey("t", "20260101", "r", "s3"), SigningKey("s", "20260102", "r", "s3"),
		SigningKey("s", "20260101", "q", "s3"), SigningKey("s", "20260101", "r", "iam")} {
		if bytes.Equal(k, base) {
			t.Fatal("two scopes share a key")
		}
	}
}
