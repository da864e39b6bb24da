#!/usr/bin/env bash
# Starts / stops the real servers the integration tests talk to, all on 127.0.0.1 free ports:
#   nginx  (HTTP/1.1 on LD_NGINX_PORT, TLS with a fresh self-signed cert on LD_NGINX_TLS_PORT,
#           HTTP/2: h2c with prior knowledge on LD_NGINX_H2C_URL, h2 over TLS on LD_NGINX_H2_URL,
#           both logging "$connection $msec $request_time $request_uri $status" to
#           LD_NGINX_H2_LOG)
#   httpbin (gunicorn) on LD_HTTPBIN_PORT
#   WebSocket echo (python3-websockets): LD_WS_URL (ws://) and LD_WSS_URL (wss://, same cert)
#   redis-server (no persistence) on LD_REDIS_PORT, LD_REDIS_URL=redis://127.0.0.1:PORT/0
#   PostgreSQL (LD_PG_URL) and MariaDB (LD_MARIADB_URL=mysql://ld:ldpass@127.0.0.1:PORT/ld, its
#           socket file LD_MARIADB_SOCKET), throwaway data directories inside DIR
# `tests/servers.sh start DIR` writes DIR/servers.env (source it); `stop DIR` ends them all.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}
mkdir -p "$dir"

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {  # port, name
  for _ in $(seq 1 100); do
    if (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "servers: $2 did not open port $1" >&2
  return 1
}

case "$cmd" in
start)
  nginx_port=$(free_port); tls_port=$(free_port); mtls_port=$(free_port); httpbin_port=$(free_port)
  pg_port=$(free_port); maria_port=$(free_port)
  # MariaDB's system tables take a few seconds to create: in the background meanwhile.
  mkdir -p "$dir/maria"
  mariadb-install-db --no-defaults --user="$(id -un)" --auth-root-authentication-method=normal \
    --skip-test-db --datadir="$dir/maria/data" >"$dir/maria/install.log" 2>&1 &
  maria_install=$!
  h2c_port=$(free_port); h2_port=$(free_port)
  head -c 6000 /dev/zero >"$dir/slow.bin"  # served at 4 KiB/s: a response that takes ~1 s
  ws_port=$(free_port); wss_port=$(free_port)
  redis_port=$(free_port)
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=loaddensity-client" \
    -keyout "$dir/client-key.pem" -out "$dir/client.pem" >/dev/null 2>&1
  mkdir -p "$dir/nginx-tmp"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $dir/nginx-tmp/body;
  proxy_temp_path $dir/nginx-tmp/proxy;
  fastcgi_temp_path $dir/nginx-tmp/fastcgi;
  uwsgi_temp_path $dir/nginx-tmp/uwsgi;
  scgi_temp_path $dir/nginx-tmp/scgi;
  keepalive_requests 1000000;
  log_format h2 '\$connection \$msec \$request_time \$request_uri \$status';
  server {
    listen 127.0.0.1:$nginx_port;
    location = /hello { default_type text/plain; return 200 "hello, world\n"; }
    location = /fail { return 500 "boom\n"; }
    location = /close { add_header Connection close; return 200 "bye\n"; }
    location / { default_type text/plain; return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$tls_port ssl;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    location = /events { default_type text/event-stream; return 200 "id: 1\ndata: tls event\n\n"; }
    location / { default_type text/plain; return 200 "tls ok\n"; }
  }
  server {
    listen 127.0.0.1:$mtls_port ssl;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    ssl_client_certificate $dir/client.pem;
    ssl_verify_client on;
    location / { default_type text/plain; return 200 "client \$ssl_client_s_dn\n"; }
  }
  server {
    listen 127.0.0.1:$h2c_port http2;
    access_log $dir/h2-access.log h2;
    location = /hello { default_type text/plain; return 200 "hello, world\n"; }
    location = /fail { return 500 "boom\n"; }
    location = /reset { return 444; }
    location = /redirect { return 302 /hello; }
    location = /slow { limit_rate 4k; alias $dir/slow.bin; }
    location = /conn { default_type text/plain; return 200 "\$connection \$connection_requests\n"; }
    location /digest-auth/ { proxy_pass http://127.0.0.1:$httpbin_port; }
    location / { default_type text/plain; return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$h2_port ssl http2;
    access_log $dir/h2-access.log h2;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    location = /hello { default_type text/plain; return 200 "hello, world\n"; }
    location / { default_type text/plain; return 200 "h2 tls ok\n"; }
  }
}
CONF
  nginx -c "$dir/nginx.conf" -e "$dir/nginx-error.log"
  (cd "$dir" && /usr/bin/gunicorn -b "127.0.0.1:$httpbin_port" -w 2 --daemon \
     --pid "$dir/gunicorn.pid" --error-logfile "$dir/gunicorn.log" httpbin:app)
  /usr/bin/python3 "$(dirname "$0")/servers/ws_echo.py" "$ws_port" "$wss_port" \
    "$dir/cert.pem" "$dir/key.pem" >"$dir/ws_echo.log" 2>&1 &
  echo $! >"$dir/ws_echo.pid"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  wait_port "$nginx_port" nginx
  wait_port "$tls_port" "nginx TLS"
  wait_port "$mtls_port" "nginx mTLS"
  wait_port "$httpbin_port" httpbin
  wait_port "$ws_port" "WebSocket echo"
  wait_port "$wss_port" "WebSocket echo (TLS)"
  wait_port "$h2c_port" "nginx h2c"
  wait_port "$h2_port" "nginx h2"
  wait_port "$redis_port" redis-server

  # PostgreSQL: a throwaway cluster (initdb refuses root, so it runs as `postgres` then).
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  as_pg=()
  if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); chmod 755 "$dir"; fi
  mkdir -p "$dir/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/pg"
  "${as_pg[@]}" "$pgbin/initdb" -D "$dir/pg/data" -A trust -U postgres >/dev/null
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
    -o "-p $pg_port -h 127.0.0.1 -k $dir/pg -F" start >/dev/null
  "$pgbin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c \
    "CREATE TABLE people (name text, age int); INSERT INTO people VALUES ('ann', 31), ('bob', 42);"

  # MariaDB: root (no password) only on the socket file; the tests use `ld` over TCP.
  if ! wait "$maria_install"; then
    echo "servers: mariadb-install-db failed:" >&2; tail -n 20 "$dir/maria/install.log" >&2
    exit 1
  fi
  mariadbd --no-defaults --user="$(id -un)" --datadir="$dir/maria/data" --port="$maria_port" \
    --bind-address=127.0.0.1 --socket="$dir/maria/mysqld.sock" --pid-file="$dir/maria/mysqld.pid" \
    --log-error="$dir/maria/error.log" --skip-name-resolve --skip-log-bin \
    --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --max-connections=1000 \
    >/dev/null 2>&1 &
  echo $! >"$dir/maria.pid"
  wait_port "$maria_port" mariadbd
  mariadb --no-defaults -uroot -S "$dir/maria/mysqld.sock" -e \
    "CREATE DATABASE ld; CREATE USER 'ld'@'%' IDENTIFIED BY 'ldpass';
     GRANT ALL ON ld.* TO 'ld'@'%';
     CREATE TABLE ld.people (name varchar(20), age int);
     INSERT INTO ld.people VALUES ('ann', 31), ('bob', 42);"
  cat >"$dir/servers.env" <<ENV
export LD_NGINX_URL=http://127.0.0.1:$nginx_port
export LD_NGINX_TLS_URL=https://127.0.0.1:$tls_port
export LD_NGINX_TLS_CA=$dir/cert.pem
export LD_NGINX_MTLS_URL=https://127.0.0.1:$mtls_port
export LD_CLIENT_CERT=$dir/client.pem
export LD_CLIENT_KEY=$dir/client-key.pem
export LD_HTTPBIN_URL=http://127.0.0.1:$httpbin_port
export LD_PG_URL=postgresql://postgres@127.0.0.1:$pg_port/postgres
export LD_NGINX_H2C_URL=http://127.0.0.1:$h2c_port
export LD_NGINX_H2_URL=https://127.0.0.1:$h2_port
export LD_NGINX_H2_LOG=$dir/h2-access.log
export LD_WS_URL=ws://127.0.0.1:$ws_port/echo
export LD_WSS_URL=wss://localhost:$wss_port/echo
export LD_REDIS_PORT=$redis_port
export LD_REDIS_URL=redis://127.0.0.1:$redis_port/0
export LD_MARIADB_URL=mysql://ld:ldpass@127.0.0.1:$maria_port/ld
export LD_MARIADB_SOCKET=$dir/maria/mysqld.sock
ENV
  echo "$pgbin" >"$dir/pgbin"
  echo "servers: nginx :$nginx_port (TLS :$tls_port, mTLS :$mtls_port, h2c :$h2c_port, h2 :$h2_port), httpbin :$httpbin_port, postgresql :$pg_port, mariadb :$maria_port, websocket :$ws_port (TLS :$wss_port), redis :$redis_port"
  ;;
stop)
  if [ -f "$dir/pgbin" ] && [ -d "$dir/pg/data" ]; then
    as_pg=()
    if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
    "${as_pg[@]}" "$(cat "$dir/pgbin")/pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/maria.pid" ]; then  # throwaway data: no clean shutdown needed
    maria=$(cat "$dir/maria.pid")
    kill -9 "$maria" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$maria" 2>/dev/null || break; sleep 0.1; done
  fi
  for pidfile in "$dir/nginx.pid" "$dir/gunicorn.pid" "$dir/ws_echo.pid" "$dir/redis.pid"; do
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  sleep 0.3
  rm -f "$dir/servers.env"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
