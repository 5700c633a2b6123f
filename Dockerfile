# tlbuild with Debian's ffmpeg. Build and try the demo (a simulated camera, no network):
#   docker build -t tlbuild:latest .
#   docker run --rm -v "$PWD/out:/opt/tlbuild/out" tlbuild:latest
# Real cameras: mount a config and an output folder and name them, e.g.
#   docker run --rm -e UPVS_PASSWORD -v /etc/tlbuild:/config:ro -v /srv/timelapse:/srv/timelapse \
#     tlbuild:latest tlbuild --config /config/tlbuild.toml batch --camera all --from yesterday
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/tlbuild
COPY pyproject.toml README.md dodo.py ./
COPY tlbuild ./tlbuild
COPY config ./config
RUN pip install --no-cache-dir '.[demo]'

# a fixed unprivileged user, the one deploy/kubernetes.yaml runs as
RUN groupadd --gid 10001 tlbuild \
    && useradd --uid 10001 --gid tlbuild --no-create-home tlbuild \
    && mkdir out && chown tlbuild:tlbuild out
USER tlbuild

CMD ["tlbuild", "--camera", "demo", "run", "--date", "2024-01-15"]
