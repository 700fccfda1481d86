# oailb serve in a container: a static (musl) binary on an empty base image,
# running as a non-root user. Build and run:
#   docker build -t oailb .
#   docker run --rm -p 8080:8080 -v "$PWD/oailb.yaml:/etc/oailb/oailb.yaml:ro" \
#     -e OAILB_CLIENT_KEY -e AZURE_TENANT_ID -e AZURE_CLIENT_ID -e AZURE_CLIENT_SECRET \
#     oailb serve --listen 0.0.0.0:8080
# (README "oailb serve" → "Container").

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY policies policies
COPY templates templates
COPY benches benches
COPY bench bench
COPY tests tests
COPY examples examples
COPY README.md LICENSE ./
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin oailb \
 && cp target/x86_64-unknown-linux-musl/release/oailb /oailb

FROM scratch
# rustls with bundled root certificates: no CA files or libc needed.
COPY --from=build /oailb /oailb
USER 65532:65532
ENV OAILB_TOPOLOGY=/etc/oailb/oailb.yaml
EXPOSE 8080
ENTRYPOINT ["/oailb"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
