// A small PKI made with openssl's own commands, for the TLS tests against nginx: a root, two
// intermediates under it, another CA; client leaves under each (alice under the root with a subject
// that needs escaping, bob under an intermediate, carol two intermediates down, mallory under the
// other CA), a self-signed one, an expired and a revoked one with the root's CRL; server
// certificates for backend.test and other.test under the root, deep.test under an intermediate,
// and a self-signed backend.test. *chain.crt files carry the intermediates too.
import { execFileSync } from 'node:child_process';

export function makePki(dir: string): void {
  const script = `
set -e
cd "${dir}"
printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > ca.ext
printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > leaf.ext
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out $1.key 2>/dev/null; }
csr() { key $1; openssl req -new -key $1.key -out $1.csr -utf8 -multivalue-rdn -subj "$2"; }
ca() { csr $1 "$2"; if [ -z "$3" ]; then openssl x509 -req -in $1.csr -signkey $1.key -out $1.crt -days 30 -extfile ca.ext 2>/dev/null;
  else openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -out $1.crt -days 30 -extfile ca.ext 2>/dev/null; fi; }
leaf() { csr $1 "$2"; openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -out $1.crt -days 30 -extfile leaf.ext 2>/dev/null; }
ca root "/C=US/O=Test Root/CN=Root CA"
ca inter "/C=US/O=Test Root/CN=Inter CA" root
ca inter2 "/CN=Inter2 CA" inter
ca other "/CN=Other CA"
leaf alice '/C=DE/ST=Berlin/O=Acme, Inc./OU=Ops+OU=Dev/CN=Zoë "Z" <x>;y=#1' root
leaf bob "/CN=bob/emailAddress=bob@example.com" inter
leaf carol "/CN=carol" inter2
leaf mallory "/CN=mallory" other
key self; openssl req -x509 -key self.key -out self.crt -days 30 -subj "/CN=self"
key srv; openssl req -x509 -key srv.key -out srv.crt -days 30 -subj "/CN=srv.test" -addext subjectAltName=DNS:srv.test
# servers: a name under the root, another name, one under an intermediate (sent with it), a self-signed one
srv() { csr $1 "/CN=$2"; printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' "$2" > $1.ext
  openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -out $1.crt -days 30 -extfile $1.ext 2>/dev/null; }
srv backend backend.test root
srv elsewhere other.test root
srv deep deep.test inter
cat deep.crt inter.crt > deepchain.crt
key fake; openssl req -x509 -key fake.key -out fake.crt -days 30 -subj "/CN=backend.test" -addext subjectAltName=DNS:backend.test
cat bob.crt inter.crt > bobchain.crt
cat carol.crt inter2.crt inter.crt > carolchain.crt
# the root's CA database: an expired leaf, a revoked one, and the CRL
mkdir db; touch db/index.txt; echo 1000 > db/serial; echo 1000 > db/crlnumber
cat > ca.cnf <<EOF
[ca]
default_ca = root
[root]
dir = ${dir}
database = ${dir}/db/index.txt
serial = ${dir}/db/serial
crlnumber = ${dir}/db/crlnumber
new_certs_dir = ${dir}/db
certificate = ${dir}/root.crt
private_key = ${dir}/root.key
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
csr expired "/CN=expired"
openssl ca -batch -config ca.cnf -in expired.csr -out expired.crt -startdate 20200101000000Z -enddate 20200201000000Z -extfile leaf.ext 2>/dev/null
csr revoked "/CN=revoked"
openssl ca -batch -config ca.cnf -in revoked.csr -out revoked.crt -days 30 -extfile leaf.ext 2>/dev/null
openssl ca -config ca.cnf -revoke revoked.crt 2>/dev/null
openssl ca -config ca.cnf -gencrl -out root.crl 2>/dev/null
chmod 644 *.key
`;
  execFileSync('bash', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] });
}
