#!/usr/bin/env bash
# Runs every test of the project: starts (or installs) what the tests need,
# then go vet and go test -race over the whole module.
set -euo pipefail
cd "$(dirname "$0")/.."

export TNV_TEST_MYSQL_DSN
TNV_TEST_MYSQL_DSN=$(bash scripts/ensure-mariadb.sh)
echo "test.sh: MariaDB at $(echo "$TNV_TEST_MYSQL_DSN" | sed -E 's#://([^:@]*):[^@]*@#://\1:xxxxx@#')"

if [ -f scripts/ensure-clients.sh ]; then
	bash scripts/ensure-clients.sh
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "test.sh: not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
go vet ./...
# docker-compose.yml is checked by compose itself where the plugin exists;
# e2e/compose_test.go runs its topology as processes either way.
if docker compose version >/dev/null 2>&1; then
	docker compose -f docker-compose.yml config -q
fi
go test -race -timeout 25m -count=1 ./...
