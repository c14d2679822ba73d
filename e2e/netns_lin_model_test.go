package e2e

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// The register model judges what it is there to judge: each history here
// is one the netns suite could record, and its verdict is known.
func TestNetnsLinModel(t *testing.T) {
	put := func(client int, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{Op: "put", Key: "k", Value: v}, Output: linOutput{}, Call: call, Return: ret}
	}
	failedPut := func(client int, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{Op: "put", Key: "k", Value: v}, Output: linOutput{Unknown: true}, Call: call, Return: ret}
	}
	del := func(client int, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{Op: "delete", Key: "k"}, Output: linOutput{}, Call: call, Return: ret}
	}
	get := func(client int, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{Op: "get", Key: "k"}, Output: linOutput{Found: v != "", Value: v}, Call: call, Return: ret}
	}
	list := func(client int, v string, call, ret int64) porcupine.Operation {
		out := linOutput{}
		if v != "" {
			out = linOutput{Found: true, ETag: etagOf(v)}
		}
		return porcupine.Operation{ClientId: client, Input: linInput{Op: "list", Key: "k"}, Output: out, Call: call, Return: ret}
	}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"read after write", []porcupine.Operation{put(0, "a", 0, 10), get(1, "a", 11, 20), list(1, "a", 21, 30)}, porcupine.Ok},
		{"stale read after a completed put", []porcupine.Operation{put(0, "a", 0, 10), put(0, "b", 11, 20), get(1, "a", 21, 30)}, porcupine.Illegal},
		{"read concurrent with a put sees either", []porcupine.Operation{put(0, "a", 0, 10), put(0, "b", 11, 30), get(1, "a", 12, 20), get(2, "b", 13, 21)}, porcupine.Ok},
		{"value never written", []porcupine.Operation{put(0, "a", 0, 10), get(1, "z", 11, 20)}, porcupine.Illegal},
		{"deleted object read back", []porcupine.Operation{put(0, "a", 0, 10), del(0, 11, 20), get(1, "a", 21, 30)}, porcupine.Illegal},
		{"deleted object listed", []porcupine.Operation{put(0, "a", 0, 10), del(0, 11, 20), list(1, "a", 21, 30)}, porcupine.Illegal},
		{"list of an older value", []porcupine.Operation{put(0, "a", 0, 10), put(0, "b", 11, 20), list(1, "a", 21, 30)}, porcupine.Illegal},
		{"not found after a put", []porcupine.Operation{put(0, "a", 0, 10), get(1, "", 11, 20)}, porcupine.Illegal},
		{"a failed put may have happened", []porcupine.Operation{failedPut(0, "a", 0, 1000), get(1, "a", 11, 20)}, porcupine.Ok},
		{"a failed put may not have happened", []porcupine.Operation{failedPut(0, "a", 0, 1000), get(1, "", 11, 20)}, porcupine.Ok},
		{"a failed put cannot be undone", []porcupine.Operation{failedPut(0, "a", 0, 1000), get(1, "a", 11, 20), get(1, "", 21, 30)}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(linModel, tc.ops, 0); got != tc.want {
				t.Fatalf("%s, want %s", got, tc.want)
			}
		})
	}
}
