package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// S3 at its own names.
//
// SDKs that predate AWS_ENDPOINT_URL_S3, Debian 12's botocore 1.29 among
// them, go to S3's own names over HTTPS, as on Lambda:
// https://bucket.s3.amazonaws.com/key. So the sandbox's network namespace
// also answers there: a DNS server on its 127.0.0.1:53 resolves S3's
// names (and only those) to 127.0.0.1, and an HTTPS server on its
// 127.0.0.1:443 presents, for each name asked, a certificate signed by a
// certificate authority that this Platform makes in memory and that only
// its S3 sandboxes trust (their /etc/ssl/certs/ca-certificates.crt is the
// host's bundle plus it). The function's code is untouched and uses S3's
// default endpoints.

// s3HostPattern matches S3's endpoint names, path-style ("s3.amazonaws.com",
// "s3.us-east-1.amazonaws.com", "s3-us-west-2.amazonaws.com") and
// virtual-hosted ("bucket.s3.us-east-1.amazonaws.com"), whose first group
// is the bucket.
var s3HostPattern = regexp.MustCompile(`^(?:(.+)\.)?s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$`)

// s3Names is what a Platform's S3 sandboxes share: the certificate
// authority and the bubblewrap arguments that bind its bundle and the
// resolver configuration.
type s3Names struct {
	once  sync.Once
	err   error
	binds []string

	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// prepare makes the certificate authority and writes the sandbox's files
// into dir, once.
func (n *s3Names) prepare(dir string) ([]string, error) {
	n.once.Do(func() { n.err = n.make(dir) })
	return n.binds, n.err
}

func (n *s3Names) make(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("s3 certificate authority: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "faaslab local S3 " + randomHex(4)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("s3 certificate authority: %w", err)
	}
	if n.caCert, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("s3 certificate authority: %w", err)
	}
	n.caKey = key
	n.leaves = map[string]*tls.Certificate{}

	bundle, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("s3 certificate bundle: %w", err)
	}
	bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	bundlePath := filepath.Join(dir, "etc-s3-ca-certificates.crt")
	resolvPath := filepath.Join(dir, "etc-s3-resolv.conf")
	if err := createFile(bundlePath, string(bundle)); err != nil {
		return fmt.Errorf("s3 certificate bundle: %w", err)
	}
	if err := createFile(resolvPath, "nameserver 127.0.0.1\n"); err != nil {
		return fmt.Errorf("s3 resolver: %w", err)
	}
	n.binds = []string{
		"--ro-bind", bundlePath, "/etc/ssl/certs/ca-certificates.crt",
		"--ro-bind", resolvPath, "/etc/resolv.conf",
	}
	return nil
}

func serial() *big.Int {
	s, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return s
}

// certificate returns a certificate for the S3 name that the client asks
// for, signed by the authority; it refuses other names.
func (n *s3Names) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	if !s3HostPattern.MatchString(name) {
		return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.leaves[name]; c != nil {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     n.caCert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, n.caCert, &key.PublicKey, n.caKey)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	n.leaves[name] = c
	return c, nil
}

// tlsConfig is the HTTPS server's configuration.
func (n *s3Names) tlsConfig() *tls.Config {
	return &tls.Config{GetCertificate: n.certificate, MinVersion: tls.VersionTLS12}
}

// hostAddressed turns virtual-hosted requests (bucket.s3....amazonaws.com/key)
// into the path-style ones that the store's API takes (/bucket/key).
func hostAddressed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if m := s3HostPattern.FindStringSubmatch(host); m != nil && m[1] != "" {
			r = r.Clone(r.Context())
			r.URL.Path = "/" + m[1] + r.URL.Path
			if r.URL.RawPath != "" {
				r.URL.RawPath = "/" + m[1] + r.URL.RawPath
			}
		}
		h.ServeHTTP(w, r)
	})
}

// serveDNS answers queries on pc until it is closed: S3's names are
// 127.0.0.1, other names do not exist.
func serveDNS(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if answer, err := dnsAnswer(buf[:n]); err == nil {
			pc.WriteTo(answer, from)
		}
	}
}

func dnsAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
	known := q.Class == dnsmessage.ClassINET && s3HostPattern.MatchString(name)
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	// An S3 name has an IPv4 address only; AAAA queries get no answer.
	if known && q.Type == dnsmessage.TypeA {
		rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		if err := b.AResource(rr, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
