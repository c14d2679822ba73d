#!/usr/bin/env bash
# Makes a MariaDB server reachable for the tests and prints the DSN to use.
# Uses $TNV_TEST_MYSQL_DSN when set; otherwise the local server on
# 127.0.0.1:3306, started (or installed with apt, when run as root) if missing.
set -euo pipefail

if [ -n "${TNV_TEST_MYSQL_DSN:-}" ]; then
	echo "$TNV_TEST_MYSQL_DSN"
	exit 0
fi

log() { echo "ensure-mariadb: $*" >&2; }

port_open() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }

if ! port_open; then
	if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
		if [ "$(id -u)" != 0 ]; then
			log "MariaDB is not installed and we are not root: install mariadb-server or set TNV_TEST_MYSQL_DSN"
			exit 1
		fi
		log "installing mariadb-server with apt"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2 || true
		apt-get install -y -qq mariadb-server mariadb-client >&2
	fi
	log "starting mariadbd"
	mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
	if [ ! -d /var/lib/mysql/mysql ]; then
		mariadb-install-db --user=mysql --datadir=/var/lib/mysql >&2 || mysql_install_db --user=mysql >&2
	fi
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >&2 ||
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2
	for _ in $(seq 1 60); do
		port_open && break
		sleep 1
	done
	port_open || { log "mariadbd did not open 127.0.0.1:3306"; exit 1; }
fi

mysql_cli=$(command -v mariadb || command -v mysql || true)
dsn="mysql://root@127.0.0.1:3306/test"
if [ -n "$mysql_cli" ]; then
	if ! "$mysql_cli" -h127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
		# A fresh Debian install lets root in over the socket only: make a
		# password user for TCP.
		log "root over TCP refused; creating user tnvtest"
		"$mysql_cli" -uroot -e "CREATE USER IF NOT EXISTS 'tnvtest'@'127.0.0.1' IDENTIFIED BY 'tnvtest';
			CREATE USER IF NOT EXISTS 'tnvtest'@'localhost' IDENTIFIED BY 'tnvtest';
			GRANT ALL PRIVILEGES ON *.* TO 'tnvtest'@'127.0.0.1'; GRANT ALL PRIVILEGES ON *.* TO 'tnvtest'@'localhost';
			CREATE DATABASE IF NOT EXISTS test;" >&2
		dsn="mysql://tnvtest:tnvtest@127.0.0.1:3306/test"
	else
		"$mysql_cli" -h127.0.0.1 -uroot -e 'CREATE DATABASE IF NOT EXISTS test' >&2
	fi
	# Every tnv process keeps up to 32 connections (metadb), and test
	# packages run clusters side by side: MariaDB's default of 151 was
	# reached ("Error 1040: Too many connections" in a catch-up test).
	raise='SET GLOBAL max_connections = GREATEST(@@max_connections, 1000)'
	"$mysql_cli" -h127.0.0.1 -uroot -e "$raise" 2>/dev/null || "$mysql_cli" -uroot -e "$raise" >&2 ||
		log "could not raise max_connections (tests that run many processes may see Error 1040)"
fi
echo "$dsn"
