package local

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestRequestFrame checks that the hand-written request frame decodes to
// what encoding/json would have sent, for events of every JSON kind and
// ARNs that need escaping.
func TestRequestFrame(t *testing.T) {
	deadline := time.UnixMilli(1764644196123)
	for _, tc := range []struct{ arn, event string }{
		{"arn:aws:lambda:us-east-1:000000000000:function:echo", `{}`},
		{"arn:aws:lambda:us-east-1:000000000000:function:echo", `{"a": [1, 2.5, "x\"y", null, true]}`},
		{"arn:aws:lambda:eu-\"odd\\\u00e9\x01:000000000000:function:f", `"text"`},
		{"arn", "\n[ 1 ,\t2 ]\n"},
	} {
		id := newRequestID()
		frame := appendRequestFrame([]byte("keep"), id, deadline, tc.arn, []byte(tc.event))
		if !bytes.HasPrefix(frame, []byte("keep")) {
			t.Fatalf("frame %q lost what buf held", frame)
		}
		payload, err := readFrame(bytes.NewReader(frame[4:]))
		if err != nil {
			t.Fatalf("%q: %v", frame, err)
		}
		var got, want invocationRequest
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatalf("frame %q: %v", payload, err)
		}
		wantJSON, _ := json.Marshal(invocationRequest{RequestID: id, DeadlineMS: deadline.UnixMilli(), FunctionARN: tc.arn, Event: json.RawMessage(tc.event)})
		json.Unmarshal(wantJSON, &want)
		var gotEvent, wantEvent any
		json.Unmarshal(got.Event, &gotEvent)
		json.Unmarshal(want.Event, &wantEvent)
		if got.RequestID != want.RequestID || got.DeadlineMS != want.DeadlineMS || got.FunctionARN != want.FunctionARN || !jsonEqual(gotEvent, wantEvent) {
			t.Errorf("frame %s decodes to %+v %v, want %+v %v", payload, got, gotEvent, want, wantEvent)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
