#!/bin/sh
# make_certs.sh DIR: the keys and certificates the Entra ID tests need, made with openssl:
#   ca.crt/.key            the test CA (EC); server.crt/.key for 127.0.0.1 and localhost
#                          (HTTPS Azurite, the token endpoint, TLS Redis), signed by it
#   other-ca.crt           a CA nobody trusts (the wrong-CA cases)
#   client.pem             a service principal's credential: RSA certificate and key in one
#                          file (as `az ad sp create-for-rbac --create-cert` writes it);
#                          client.crt the certificate alone (what the tenant knows)
#   rogue.pem              another RSA certificate and key the tenant does not know
#   ec.pem                 an EC certificate and key (Entra ID takes only RSA assertions)
#   issuer.key/.pub        the key the tests' token endpoint signs access tokens with
set -eu
d=$1
mkdir -p "$d"
cd "$d"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
{
    openssl req -x509 $ec -keyout ca.key -out ca.crt -days 30 -subj "/CN=tsarchive azure test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -x509 $ec -keyout other-ca.key -out other-ca.crt -days 30 -subj "/CN=untrusted CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new $ec -keyout server.key -out server.csr -subj "/CN=tsarchive azure test server"
    printf '%s\n' basicConstraints=CA:FALSE extendedKeyUsage=serverAuth \
        'subjectAltName=IP:127.0.0.1,DNS:localhost' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -sha256 \
        -extfile server.ext -out server.crt
    for n in client rogue; do
        openssl req -x509 -newkey rsa:2048 -nodes -keyout $n.key -out $n.crt -days 30 \
            -subj "/CN=tsarchive $n service principal"
        cat $n.crt $n.key >$n.pem
    done
    openssl req -x509 $ec -keyout ec.key -out ec.crt -days 30 -subj "/CN=tsarchive ec principal"
    cat ec.key ec.crt >ec.pem # the key first: either order works
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out issuer.key
    openssl pkey -in issuer.key -pubout -out issuer.pub
} >make_certs.log 2>&1
rm -f ./*.csr ./*.ext
chmod 600 ./*.key ./*.pem
