# ringcache node image, built FROM scratch (no registry needed: nothing is pulled).
#
#   scripts/docker-rootfs            # stripped binary + the shared libraries it links, into target/docker-root
#   docker build -t ringcache .      # .dockerignore keeps the context to that rootfs
#   docker-compose up                # 3-node cluster, see docker-compose.yml
#   scripts/docker-test              # all of the above plus checks, then tears down
#
# Without a Docker daemon that can build, the same rootfs can be imported:
#   tar -C target/docker-root -c . | docker import -c 'ENTRYPOINT ["/ringcache"]' - ringcache
FROM scratch
COPY target/docker-root/ /
EXPOSE 6379 16379/udp
ENTRYPOINT ["/ringcache"]
CMD ["--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data"]
