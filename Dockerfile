# Build: docker build -t tierlink .   Run: see docker-compose.yml.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/tierlink ./cmd/tierlink

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tierlink /usr/local/bin/tierlink
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tierlink"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--consumer", "tierlink-1"]
