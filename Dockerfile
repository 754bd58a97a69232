# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/atrium ./cmd/atrium && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/atrium /atrium
# The data directory belongs to the user the server runs as: a new named
# volume mounted there takes its owner from the image.
COPY --from=build --chown=65532:65532 /out/data /data
ENV ATRIUM_DATA_DIR=/data ATRIUM_HTTP_ADDR=:8080 ATRIUM_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/atrium"]
CMD ["serve"]
