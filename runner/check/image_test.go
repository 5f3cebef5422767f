package check

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

// testImage is a w×h gradient in the given model ("RGB", "RGBA", "L" or
// "P"), with delta added to every channel of the pixels for which change
// returns true.
func testImage(model string, w, h int, delta int, change func(x, y int) bool) image.Image {
	clamp := func(v int) uint8 { return uint8(max(0, min(255, v))) }
	px := func(x, y int) (r, g, b uint8) {
		d := 0
		if change != nil && change(x, y) {
			d = delta
		}
		return clamp(x*255/max(1, w-1) + d), clamp(y*255/max(1, h-1) + d), clamp(128 + d)
	}
	rect := image.Rect(0, 0, w, h)
	switch model {
	case "L":
		img := image.NewGray(rect)
		for y := range h {
			for x := range w {
				r, _, _ := px(x, y)
				img.SetGray(x, y, color.Gray{r})
			}
		}
		return img
	case "P":
		palette := color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
		img := image.NewPaletted(rect, palette)
		for y := range h {
			for x := range w {
				img.SetColorIndex(x, y, uint8((x+y)%len(palette)))
				if change != nil && change(x, y) {
					img.SetColorIndex(x, y, uint8((x+y+delta)%len(palette)))
				}
			}
		}
		return img
	default:
		alpha := uint8(255)
		if model == "RGBA" {
			alpha = 200
		}
		img := image.NewNRGBA(rect)
		for y := range h {
			for x := range w {
				r, g, b := px(x, y)
				img.SetNRGBA(x, y, color.NRGBA{r, g, b, alpha})
			}
		}
		return img
	}
}

func pngBase64(t testing.TB, img image.Image, level png.CompressionLevel) string {
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func jpegBase64(t testing.TB, img image.Image) string {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestCompareImages(t *testing.T) {
	enc := func(img image.Image) string { return pngBase64(t, img, png.DefaultCompression) }
	rgb := testImage("RGB", 32, 24, 0, nil)
	someNoise := func(x, y int) bool { return (x*7+y*3)%10 == 0 } // a tenth of the pixels
	everywhere := func(x, y int) bool { return true }
	quoted := func(s string) string { return `"` + s + `"` }
	tests := []struct {
		name      string
		cmp       Compare
		got, want string
		equal     bool
		detail    string
	}{
		{"identical", Compare{}, quoted(enc(rgb)), quoted(enc(rgb)), true, ""},
		{"same pixels, other encoding", Compare{}, quoted(pngBase64(t, rgb, png.BestCompression)), quoted(enc(rgb)), true, ""},
		{"jpeg of the same picture", Compare{Threshold: 30}, quoted(jpegBase64(t, rgb)), quoted(enc(rgb)), true, ""},
		{"small noise within PSNR", Compare{Metric: MetricPSNR, Threshold: 30}, quoted(enc(testImage("RGB", 32, 24, 3, someNoise))), quoted(enc(rgb)), true, ""},
		{"small noise over a strict PSNR", Compare{Metric: MetricPSNR, Threshold: 60}, quoted(enc(testImage("RGB", 32, 24, 3, someNoise))), quoted(enc(rgb)), false, "PSNR"},
		{"small noise within MAD", Compare{Metric: MetricMAD, Threshold: 1}, quoted(enc(testImage("RGB", 32, 24, 3, someNoise))), quoted(enc(rgb)), true, ""},
		{"noise everywhere over MAD", Compare{Metric: MetricMAD, Threshold: 1}, quoted(enc(testImage("RGB", 32, 24, 3, everywhere))), quoted(enc(rgb)), false, "mean absolute difference 2.9"},
		{"different picture", Compare{}, quoted(enc(testImage("RGB", 32, 24, 120, everywhere))), quoted(enc(rgb)), false, "PSNR"},
		{"size mismatch", Compare{}, quoted(enc(testImage("RGB", 16, 12, 0, nil))), quoted(enc(rgb)), false, "image size: got 16x12, want 32x24"},
		{"mode mismatch RGBA", Compare{}, quoted(enc(testImage("RGBA", 32, 24, 0, nil))), quoted(enc(rgb)), false, "image mode: got RGBA, want RGB"},
		{"mode mismatch L", Compare{}, quoted(enc(testImage("L", 32, 24, 0, nil))), quoted(enc(rgb)), false, "image mode: got L, want RGB"},
		{"grayscale close", Compare{}, quoted(enc(testImage("L", 32, 24, 2, someNoise))), quoted(enc(testImage("L", 32, 24, 0, nil))), true, ""},
		{"RGBA close", Compare{}, quoted(enc(testImage("RGBA", 32, 24, 2, someNoise))), quoted(enc(testImage("RGBA", 32, 24, 0, nil))), true, ""},
		{"palette compared by colour", Compare{}, quoted(enc(testImage("P", 32, 24, 1, everywhere))), quoted(enc(testImage("P", 32, 24, 0, nil))), false, "PSNR"},
		{"field", Compare{Field: "$.thumbnail"}, `{"thumbnail":` + quoted(enc(rgb)) + `,"w":1}`, `{"w":32,"thumbnail":` + quoted(pngBase64(t, rgb, png.BestSpeed)) + `}`, true, ""},
		{"nested field", Compare{Field: "$.images[1]"}, `{"images":["x",` + quoted(enc(rgb)) + `]}`, `{"images":["y",` + quoted(enc(rgb)) + `]}`, true, ""},
		{"data URL", Compare{}, quoted("data:image/png;base64," + enc(rgb)), quoted(enc(rgb)), true, ""},
		{"missing field", Compare{Field: "$.thumbnail"}, `{"thumb":` + quoted(enc(rgb)) + `}`, `{"thumbnail":` + quoted(enc(rgb)) + `}`, false, `output: $.thumbnail: key "thumbnail" missing`},
		{"not a string", Compare{}, `{"image":1}`, quoted(enc(rgb)), false, "want a base64 image string, got object"},
		{"not base64", Compare{}, quoted("not base64!"), quoted(enc(rgb)), false, "not base64"},
		{"not an image", Compare{}, quoted(base64.StdEncoding.EncodeToString([]byte("hello, world"))), quoted(enc(rgb)), false, "output image: UnidentifiedImageError"},
		{"truncated image", Compare{}, quoted(enc(rgb)[:len(enc(rgb))/8*4]), quoted(enc(rgb)), false, "output image"},
		{"invalid JSON", Compare{}, `{"image":`, quoted(enc(rgb)), false, "invalid JSON"},
	}
	p := newFakePlatform(t, nil)
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	cand := function(t, "cand.handler", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cmp.Rule = RuleImage
			if err := tt.cmp.Validate(); err != nil {
				t.Fatal(err)
			}
			equal, path, detail, err := c.compare(context.Background(), cand, tt.cmp, []byte(tt.got), []byte(tt.want))
			if err != nil {
				t.Fatalf("compare: %v", err)
			}
			if equal != tt.equal || !strings.Contains(detail, tt.detail) {
				t.Errorf("compare = %v, %q, %q; want %v with %q", equal, path, detail, tt.equal, tt.detail)
			}
			if !equal && path == "" {
				t.Errorf("no path for a difference")
			}
		})
	}
}

func TestJudgeImagesBoundaries(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	measured := func(mse, mad float64) imageResult {
		return imageResult{GotSize: []int{2, 2}, WantSize: []int{2, 2}, GotMode: "RGB", WantMode: "RGB", MSE: f(mse), MAD: f(mad)}
	}
	tests := []struct {
		cmp   Compare
		res   imageResult
		equal bool
	}{
		{Compare{Metric: MetricMAD, Threshold: 2}, measured(0, 2), true},
		{Compare{Metric: MetricMAD, Threshold: 2}, measured(0, 2.0001), false},
		{Compare{Metric: MetricMAD}, measured(0, DefaultMADThreshold), true},
		{Compare{Metric: MetricMAD}, measured(0, 1.5), false},
		{Compare{}, measured(0, 0), true}, // PSNR is infinite
		{Compare{Threshold: 40}, measured(255*255/1e4*0.999, 0), true},
		{Compare{Threshold: 40}, measured(255*255/1e4*1.001, 0), false},
		{Compare{}, measured(255*255/1e3*0.999, 0), true}, // default 30 dB
		{Compare{}, measured(255*255/1e3*1.001, 0), false},
	}
	for _, tt := range tests {
		equal, _, detail, err := judgeImages(tt.cmp, "$", tt.res)
		if err != nil || equal != tt.equal {
			t.Errorf("judgeImages(%+v, mse %g, mad %g) = %v, %q, %v; want %v", tt.cmp, *tt.res.MSE, *tt.res.MAD, equal, detail, err, tt.equal)
		}
	}
	if _, _, _, err := judgeImages(Compare{}, "$", imageResult{GotSize: []int{1, 1}, WantSize: []int{1, 1}}); err == nil {
		t.Error("judgeImages without a measurement succeeded")
	}
}

// TestCheckImageRule runs the image rule through Check, as a task would.
func TestCheckImageRule(t *testing.T) {
	thumb := pngBase64(t, testImage("RGB", 16, 16, 0, nil), 0)
	close := pngBase64(t, testImage("RGB", 16, 16, 2, func(x, y int) bool { return x == y }), 0)
	far := pngBase64(t, testImage("RGB", 16, 16, 100, func(x, y int) bool { return x < 8 }), 0)
	out := func(b64 string) fakeFunc { return returns(fmt.Sprintf(`{"thumbnail":%q}`, b64)) }
	p := newFakePlatform(t, map[string]fakeFunc{"ref.handler": out(thumb), "close.handler": out(close), "far.handler": out(far)})
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	tests := []Test{{Name: "thumb", Event: []byte(`{}`), Compare: Compare{Rule: RuleImage, Field: "$.thumbnail"}}}
	ref := function(t, "ref.handler", nil)
	for handler, want := range map[string]Class{"close.handler": ClassOK, "far.handler": ClassFD} {
		rep, err := c.Check(context.Background(), function(t, handler, nil), ref, tests)
		if err != nil || rep.Class != want {
			t.Errorf("%s: Check = %+v, %v; want %s", handler, rep, err, want)
		}
		if want == ClassFD && rep.Tests[0].Path != "$.thumbnail" {
			t.Errorf("%s: path %q, want $.thumbnail", handler, rep.Tests[0].Path)
		}
	}
}

// TestCompareImagesTooLarge compares images that do not fit one request
// to the tools together: different ones are FD, without a request.
func TestCompareImagesTooLarge(t *testing.T) {
	big := func(fill byte) string {
		return `"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, maxImageBytes/2+1)) + `"`
	}
	p := newFakePlatform(t, nil)
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	cand := function(t, "cand.handler", nil)
	cmp := Compare{Rule: RuleImage}
	equal, path, detail, err := c.compare(context.Background(), cand, cmp, []byte(big(1)), []byte(big(2)))
	if err != nil || equal || path != "$" || !strings.Contains(detail, "images too large to compare") {
		t.Errorf("compare(two large images) = %v, %q, %q, %v; want FD at $, too large", equal, path, detail, err)
	}
	equal, _, _, err = c.compare(context.Background(), cand, cmp, []byte(big(1)), []byte(big(1)))
	if err != nil || !equal {
		t.Errorf("compare(the same large image) = %v, %v; want equal", equal, err)
	}
	if n := p.invokes[toolsModule+".handler"]; n != 0 {
		t.Errorf("%d tools invocations, want none", n)
	}
}
