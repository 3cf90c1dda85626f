// Command release-host serves a folder over HTTPS (and so HTTP/2) on 127.0.0.1, as GitHub
// serves a release's assets: the tests' stand-in for the project's GitHub releases.
//
//	release-host DIR CERT_OUT
//
// It makes a self-signed certificate for 127.0.0.1, appends it to the system's CA bundle
// in CERT_OUT (for SSL_CERT_FILE), prints "serving https://127.0.0.1:PORT", then one line
// per request: "GET /path". HTTP/2 matters: Pulumi 3.259's --checksum check drops the last
// read of an HTTP/1.1 body (net/http returns it together with io.EOF), so it refuses every
// archive an HTTP/1.1 server sends; HTTP/2 bodies end with a read of their own.
package main

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
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: release-host DIR CERT_OUT")
		os.Exit(2)
	}
	cert, pemCert, err := selfSigned()
	if err != nil {
		fail(err)
	}
	bundle, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err := os.WriteFile(os.Args[2], append(bundle, pemCert...), 0o644); err != nil {
		fail(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	files := http.FileServer(http.Dir(os.Args[1]))
	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Printf("%s %s\n", r.Method, r.URL.Path)
			files.ServeHTTP(w, r)
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	fmt.Printf("serving https://%s\n", listener.Addr())
	fail(server.ServeTLS(listener, "", ""))
}

func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "pcc-provider release host"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(pemCert, pemKey)
	return cert, pemCert, err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "release-host:", err)
	os.Exit(1)
}
