// Scenario 10: a PHP site as Debian runs one (php8.2-fpm on its unix socket, Debian's
// snippets/fastcgi-php.conf) served by the real nginx, then by bext after the package and the
// masquerade install: the same answers from PHP (script, PATH_INFO, a POST, the pool's user), the
// workers (www-data, nginx.conf's `user`) reaching the socket php-fpm made for www-data, and 502
// while php-fpm is stopped.
import assert from 'node:assert/strict';
import { describeHost } from './harness.ts';
import { debPackage, missingDeb } from './lib/artifacts.ts';
import type { SystemdContainer } from './lib/container.ts';
import { activateMasquerade, bextDiagnostics, bextLogs, expectBextServes, installDeb } from './checks/bext.ts';
import { fetchIn } from './checks/http.ts';
import { waitUntil } from './checks/wait.ts';

const deb = debPackage();

const SITE = `server {
    listen 8080;
    root /var/www/php;
    index index.php;
    location ~ [^/]\\.php(/|$) {
        include snippets/fastcgi-php.conf;
        fastcgi_pass unix:/run/php/php8.2-fpm.sock;
    }
}
`;

const SCRIPT = `<?php
echo "php ", PHP_MAJOR_VERSION, " script=", $_SERVER['SCRIPT_NAME'], " path_info=", $_SERVER['PATH_INFO'] ?? '',
  " method=", $_SERVER['REQUEST_METHOD'], " body=", file_get_contents('php://input'),
  " user=", posix_getpwuid(posix_geteuid())['name'], "\\n";
`;

/** The answers the PHP site gives, one line each. */
async function phpAnswers(host: SystemdContainer): Promise<string[]> {
  const get = await fetchIn(host, 'http://localhost:8080/index.php/extra/path?x=1');
  const post = await fetchIn(host, 'http://localhost:8080/index.php', ['--data-binary', 'posted']);
  const dir = await fetchIn(host, 'http://localhost:8080/');
  const missing = await fetchIn(host, 'http://localhost:8080/nope.php');
  return [`${get.status} ${get.body.trim()}`, `${post.status} ${post.body.trim()}`, `${dir.status} ${dir.body.trim()}`, `${missing.status}`];
}

let expected: string[] = [];

describeHost('10 bext: a PHP site through php-fpm', {
  skip: !deb && missingDeb, units: ['nginx', 'php8.2-fpm'], logs: [...bextLogs, '/var/log/php8.2-fpm.log'], diagnose: [...bextDiagnostics, 'ls -l /run/php'],
}, (hostTest) => {
  hostTest('the real nginx serves the PHP site from php-fpm', async (host, t) => {
    await waitUntil('php8.2-fpm active', async () => (await host.sh('systemctl is-active php8.2-fpm')).stdout.trim() === 'active', { timeoutMs: 30_000 });
    await host.must('mkdir -p /var/www/php');
    await host.writeFile('/var/www/php/index.php', SCRIPT, '0644');
    await host.writeFile('/etc/nginx/sites-enabled/php', SITE, '0644');
    await host.must('nginx -t && systemctl reload nginx');
    await waitUntil('the PHP site answers', async () => (await fetchIn(host, 'http://localhost:8080/index.php')).status === 200, { timeoutMs: 20_000 });
    expected = await phpAnswers(host);
    t.diagnostic(expected.join(' | '));
    assert.match(expected[0]!, /^200 php 8 script=\/index\.php path_info=\/extra\/path method=GET body= user=www-data$/);
    assert.match(expected[1]!, /^200 .*method=POST body=posted/);
    assert.equal(expected[3], '404');
  });

  hostTest('apt-get install the .deb and masquerade install', async (host, t) => {
    await installDeb(host, deb!, t);
    t.diagnostic(await activateMasquerade(host));
    await expectBextServes(host);
  });

  hostTest('bext serves the same PHP answers, its workers reaching php-fpm\'s socket as www-data', async (host, t) => {
    const ours = await phpAnswers(host);
    t.diagnostic(ours.join(' | '));
    assert.deepEqual(ours, expected);
    // The master keeps root; its workers run as nginx.conf's `user www-data`.
    const workers = (await host.must('ps -o user= --ppid "$(cat /run/nginx.pid)" | sort -u')).trim();
    t.diagnostic(`the master's workers run as: ${workers.replace(/\n/g, ', ')}`);
    assert.equal(workers, 'www-data');
  });

  hostTest('php-fpm stopped: 502 with nginx\'s line; started again: served', async (host) => {
    await host.must('systemctl stop php8.2-fpm');
    const down = await fetchIn(host, 'http://localhost:8080/index.php');
    assert.equal(down.status, 502);
    const log = await host.must('tail -n 5 /var/log/nginx/error.log');
    assert.match(log, /connect\(\) to unix:\/run\/php\/php8\.2-fpm\.sock failed \(\d+: [^)]+\) while connecting to upstream, client: [^,]+, server: , request: "GET \/index\.php HTTP\/1\.1", upstream: "fastcgi:\/\/unix:\/run\/php\/php8\.2-fpm\.sock:", host: "localhost:8080"/);
    await host.must('systemctl start php8.2-fpm');
    await waitUntil('the PHP site answers again', async () => (await fetchIn(host, 'http://localhost:8080/index.php')).status === 200, { timeoutMs: 20_000 });
  });
});
