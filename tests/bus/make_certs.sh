#!/bin/sh
# make_certs.sh DIR: the certificates test_bus_tls needs, made with openssl in DIR:
#   ca.crt/.key          the test CA
#   server.crt/.key      for 127.0.0.1 and localhost, signed by the CA
#   expired.crt          the same key, valid only in 2020
#   wrongname.crt        the same key, for other.example and 10.9.9.9 only
#   client.crt/.key      a client certificate (clientAuth), signed by the CA
#   other-ca.crt/.key    a CA nobody trusts, and untrusted.crt (127.0.0.1) signed by it
set -eu
d=$1
mkdir -p "$d/newcerts"
cd "$d"
: >index.txt
echo 1000 >serial
cat >ca.cnf <<'EOF'
[ca]
default_ca = tsca
[tsca]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[server]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[wrongname]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example, IP:10.9.9.9
[client]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
ca() { # name cn
    openssl req -x509 $ec -keyout "$1.key" -out "$1.crt" -days 30 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
csr() { # name cn
    openssl req -new $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
}
sign() { # csr-name out-name ca-name extensions [dates...]
    c=$1 o=$2 a=$3 x=$4
    shift 4
    openssl ca -config ca.cnf -batch -notext -cert "$a.crt" -keyfile "$a.key" -in "$c.csr" \
        -out "$o.crt" -extfile ca.cnf -extensions "$x" "$@" 2>/dev/null
}
ca ca "tsarchive test CA"
ca other-ca "untrusted test CA"
csr server "tsarchive test server"
csr client "tsarchive test client"
sign server server ca server -days 30
sign server expired ca server -startdate 20200101000000Z -enddate 20200201000000Z
sign server wrongname ca wrongname -days 30
sign server untrusted other-ca server -days 30
sign client client ca client -days 30
chmod 600 ./*.key
