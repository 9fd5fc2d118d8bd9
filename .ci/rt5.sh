#!/usr/bin/env bash
# Request Tracker 5 (Debian 12 packages) as the real service desk for the integration tests.
#
#   bash .ci/rt5.sh start   install if missing, initialise the database once, start rt-server on
#                           127.0.0.1:8080 if it is not running, create the Handoff queue and the
#                           HandoffKey custom field once; prints the variables the tests read
#   bash .ci/rt5.sh stop    stop the server
#   bash .ci/rt5.sh reset   stop, restore the pristine database (no tickets), start
#
# Follows ../shared/guide/request-tracker.md (SQLite backend, bcrypt cost 4, token auth, no MTA
# daemon). Every step is idempotent, so a warm machine starts in about two seconds. It fails, never
# skips, when RT cannot be installed or does not answer.
set -euo pipefail

PORT="${CHARTDESK_RT_PORT:-8080}"
BASE="http://127.0.0.1:$PORT"
STATE=/var/lib/chartdesk-rt5
DB=/var/lib/request-tracker5/rtdb
PIDFILE=/run/chartdesk-rt5.pid
SERVER=/usr/share/request-tracker5/libexec/rt-server
LOG=/var/log/request-tracker5/rt-server.log

die() { echo "rt5: $*" >&2; exit 1; }
say() { echo "rt5: $*" >&2; }

install_packages() {
  [ -x "$SERVER" ] && dpkg -s rt5-db-sqlite >/dev/null 2>&1 && command -v sqlite3 >/dev/null && return 0
  say "installing request-tracker5 from Debian's packages"
  mkdir -p /etc/request-tracker5/RT_SiteConfig.d
  write_site_config
  debconf-set-selections <<'EOF'
dma dma/mailname string localhost
dma dma/relayhost string
request-tracker5 request-tracker5/rtname string rt.test
request-tracker5 request-tracker5/organization string test
request-tracker5 request-tracker5/correspondaddress string rt@localhost
request-tracker5 request-tracker5/commentaddress string rt-comment@localhost
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1:8080
request-tracker5 request-tracker5/webpath string /rt
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/dbconfig-install boolean false
EOF
  export DEBIAN_FRONTEND=noninteractive
  local pkgs=(request-tracker5 rt5-standalone rt5-db-sqlite dma w3m curl sqlite3)
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >&2; } \
    || die "apt-get install ${pkgs[*]} failed"
  [ -x "$SERVER" ] || die "rt-server missing after install"
}

write_site_config() {
  mkdir -p /etc/request-tracker5/RT_SiteConfig.d
  cat > /etc/request-tracker5/RT_SiteConfig.d/99-ci.pm <<EOF
Set(\$DatabaseType, 'SQLite');
Set(\$DatabaseName, '$DB');
Set(\$WebPath, '');
Set(\$WebDomain, '127.0.0.1');
Set(\$WebPort, $PORT);
Set(\$WebBaseURL, '$BASE');
Set(\$BcryptCost, 4);
Set(\$MailCommand, 'mbox');
Set(\$LogToSyslog, undef);
Set(\$LogToSTDERR, 'warning');
1;
EOF
}

fix_permissions() {
  for f in /etc/request-tracker5/RT_SiteConfig.pm /etc/request-tracker5/RT_SiteConfig.d/99-ci.pm; do
    [ -e "$f" ] && chgrp www-data "$f" && chmod 640 "$f"
  done
  # Root-owned Mason cache files (from any root run) break a www-data server.
  [ -d /var/cache/request-tracker5 ] && find /var/cache/request-tracker5 ! -user www-data -delete 2>/dev/null || true
}

init_database() {
  mkdir -p "$STATE"
  if [ -s "$DB.pristine" ] && [ -s "$STATE/token" ]; then return 0; fi
  say "initialising the RT database"
  rm -f "$DB" "$DB.pristine"
  head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$STATE/root-password"
  chmod 600 "$STATE/root-password"
  rt-setup-database-5 --action init --root-password-file "$STATE/root-password" >&2 || die "rt-setup-database-5 failed"
  chown www-data:www-data "$DB"
  perl -I/usr/share/request-tracker5/lib -MRT -e 'RT::LoadConfig(); RT::Init(); my $cu=RT::CurrentUser->new;
    $cu->Load("root") or die "no root\n"; my ($id,$msg,$auth)=RT::AuthToken->new($cu)->Create(Owner=>$cu->id,
    Description=>"chartdesk-ci"); die "$msg\n" unless $id; print "$auth\n"' > "$STATE/token.new" || die "token creation failed"
  chmod 600 "$STATE/token.new"
  start_server
  local tok; tok=$(cat "$STATE/token.new")
  api() { curl -sS -f -H "Authorization: token $tok" -H 'Content-Type: application/json' "$@"; }
  api -X POST "$BASE/REST/2.0/queue" -d '{"Name":"Handoff","Description":"IT handoffs from chartdesk"}' >&2 \
    || die "creating the Handoff queue failed"
  api -X POST "$BASE/REST/2.0/customfield" \
    -d '{"Name":"HandoffKey","Type":"Freeform","MaxValues":1,"LookupType":"RT::Queue-RT::Ticket","Queue":"Handoff"}' >&2 \
    || die "creating the HandoffKey custom field failed"
  stop_server
  runuser -u www-data -- sqlite3 "$DB" ".backup $DB.pristine" || die "pristine snapshot failed"
  mv "$STATE/token.new" "$STATE/token"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start_server() {
  running && return 0
  fix_permissions
  mkdir -p "$(dirname "$LOG")" && chown www-data:www-data "$(dirname "$LOG")" || true
  start-stop-daemon --start --background --make-pidfile --pidfile "$PIDFILE" --chuid www-data:www-data \
    --output "$LOG" --exec "$SERVER" -- --server Starlet --host 127.0.0.1 --port "$PORT" --max-workers 2 \
    || die "rt-server did not start"
  for _ in $(seq 1 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/REST/2.0/rt" || true)
    [ "$code" = 401 ] && return 0
    sleep 0.25
  done
  tail -n 30 "$LOG" >&2 || true
  die "rt-server is not answering on $BASE"
}

stop_server() {
  [ -f "$PIDFILE" ] || return 0
  start-stop-daemon --stop --pidfile "$PIDFILE" --remove-pidfile --retry TERM/10/KILL/5 >/dev/null 2>&1 || true
}

restore_pristine() {
  install -o www-data -g www-data -m 644 "$DB.pristine" "$DB"
  rm -f /var/lib/request-tracker5/*.mbox
}

case "${1:-start}" in
  start)
    install_packages
    write_site_config
    fix_permissions
    init_database
    start_server
    ;;
  stop) stop_server; exit 0 ;;
  reset)
    stop_server
    restore_pristine
    start_server
    ;;
  *) die "usage: $0 start|stop|reset" ;;
esac

tok=$(cat "$STATE/token")
curl -s -f -o /dev/null -H "Authorization: token $tok" "$BASE/REST/2.0/queue/Handoff" || die "RT does not accept the token"
echo "export CHARTDESK_TEST_RT_URL=$BASE CHARTDESK_TEST_RT_TOKEN_FILE=$STATE/token"
