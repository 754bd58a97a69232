# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/atrium ./cmd/atrium

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/atrium /atrium
ENV ATRIUM_DATA_DIR=/data ATRIUM_HTTP_ADDR=:8080 ATRIUM_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/atrium"]
CMD ["serve"]
