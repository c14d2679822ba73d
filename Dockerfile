# One image of the tnv binary; docker-compose.yml runs every role from it.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/tnv ./cmd/tnv

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates netcat-openbsd curl \
	&& rm -rf /var/lib/apt/lists/* && useradd -r -u 10001 -m tnv \
	&& mkdir -p /data && chown tnv:tnv /data && chmod 0750 /data
COPY --from=build /out/tnv /usr/local/bin/tnv
# A fresh named volume mounted at /data takes this directory's owner and
# mode, so the storage node (not root) can write to it.
VOLUME /data
USER tnv
ENTRYPOINT ["/usr/local/bin/tnv"]
