#!/usr/bin/env bash
# Fetch the public annotation files and official feature archives into data/ (see data/README.md).
# Every file is downloaded to NAME.part and renamed when complete; existing files are skipped and a .part left by an
# interrupted run is resumed, so the script can simply be run again.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash scripts/download_data.sh [options]

Downloads annotations (jsonl) and feature archives for QVHighlights, Charades-STA and TVSum.

Options:
  --annotations-only   only the annotation jsonl files (small)
  --features           only the feature archives (QVHighlights: 8 GB tar.gz; TVSum: 69 MB zip), then extract them
  --videos             only the raw videos, for captioning and your own features (QVHighlights tar.gz, extracted
                       to qvhighlights/videos/; for Charades-STA and TVSum it says where to get them). Not part of
                       the default (annotations + features)
  --dataset NAME       qvhighlights | charades | tvsum | all (default: all); may be repeated
  --dest DIR           target folder (default: data/ at the repo root)
  --dry-run            print what would be fetched and extracted, touch nothing
  -h, --help           this help

Layout under DIR (what configs/*.yaml expect):
  qvhighlights/highlight_{train,val,test}_release.jsonl, highlight_test_with_gt.jsonl, LICENSE
  qvhighlights/features/{slowfast_features,clip_features,clip_text_features,...}   (moment_detr_features.tar.gz)
  charades_sta/charades_sta_{train,val}_tvr_format.jsonl
  tvsum/tvsum_{train,val}.jsonl, tvsum/{video_features,query_features,audio_features}   (UMT tvsum zip)
  qvhighlights/videos/{vid}.mp4   (--videos: qvhilights_videos.tar.gz, the raw videos linked by Moment-DETR)
Sources: github.com/jayleicn/moment_detr (data/, README), github.com/mingyao1120/TR-DETR (data/charades, data/tvsum),
UMT's release on huggingface.co/yeliudev/UMT. Annotations are CC BY-NC-SA 4.0 (QVHighlights) / research use.
EOF
}

MOMENT_DETR_RAW="https://raw.githubusercontent.com/jayleicn/moment_detr/main/data"
TR_DETR_RAW="https://raw.githubusercontent.com/mingyao1120/TR-DETR/main/data"
# moment_detr_features.tar.gz, Google Drive file id from the Moment-DETR README
QVH_FEATURES_GDRIVE_ID="1Hiln02F1NEpoW8-iPZurRyi-47-W2_B9"
TVSUM_FEATURES_URL="https://huggingface.co/yeliudev/UMT/resolve/main/datasets/tvsum-ec05ad4e.zip"
QVH_VIDEOS_URL="https://nlp.cs.unc.edu/data/jielei/qvh/qvhilights_videos.tar.gz"  # sic, as linked by Moment-DETR

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/data"
mode=""  # "" = annotations + features | annotations | features | videos
dry_run=0
datasets=()

die_usage() { echo "download_data.sh: $1" >&2; echo "Try 'bash scripts/download_data.sh --help'." >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --annotations-only|--features|--videos)
      want="${1#--}"; want="${want%-only}"
      [ -z "$mode" ] || [ "$mode" = "$want" ] || die_usage "--annotations-only, --features and --videos exclude each other"
      mode="$want" ;;
    --dataset) [ $# -ge 2 ] || die_usage "--dataset needs a value"
               case "$2" in
                 qvhighlights|charades|tvsum) datasets+=("$2") ;;
                 all) datasets+=(qvhighlights charades tvsum) ;;
                 *) die_usage "unknown dataset '$2' (qvhighlights | charades | tvsum | all)" ;;
               esac
               shift ;;
    --dest) [ $# -ge 2 ] && [ -n "$2" ] || die_usage "--dest needs a directory"
            dest="$2"; shift ;;
    --dry-run) dry_run=1 ;;
    *) die_usage "unknown option '$1'" ;;
  esac
  shift
done
[ ${#datasets[@]} -gt 0 ] || datasets=(qvhighlights charades tvsum)
want_annotations=0; want_features=0; want_videos=0
case "$mode" in
  "") want_annotations=1; want_features=1 ;;
  annotations) want_annotations=1 ;;
  features) want_features=1 ;;
  videos) want_videos=1 ;;
esac

has_dataset() { local d; for d in "${datasets[@]}"; do [ "$d" = "$1" ] && return 0; done; return 1; }

if [ "$dry_run" = 0 ] && ! command -v curl >/dev/null 2>&1; then
  echo "download_data.sh: curl is required" >&2
  exit 1
fi

# fetch URL PATH: download to PATH.part (resuming a partial one), then rename; skip when PATH exists.
fetch() {
  local url="$1" path="$2"
  if [ -e "$path" ]; then
    echo "skip   $path (exists)"
    return 0
  fi
  if [ "$dry_run" = 1 ]; then
    echo "fetch  $url -> $path"
    return 0
  fi
  echo "fetch  $url -> $path"
  mkdir -p "$(dirname "$path")"
  curl -fL --retry 3 --retry-delay 5 -C - -o "$path.part" "$url"
  mv -f "$path.part" "$path"
}

# fetch_gdrive ID PATH: Google Drive needs a confirmation step for large files; gdown handles it when installed.
fetch_gdrive() {
  local id="$1" path="$2"
  if [ -e "$path" ] || [ "$dry_run" = 1 ] || ! command -v gdown >/dev/null 2>&1; then
    fetch "https://drive.usercontent.google.com/download?id=$id&export=download&confirm=t" "$path"
    return 0
  fi
  echo "fetch  gdrive:$id -> $path (gdown)"
  mkdir -p "$(dirname "$path")"
  gdown --continue "https://drive.google.com/uc?id=$id" -O "$path.part"
  mv -f "$path.part" "$path"
}

# extract ARCHIVE DIR: unpack into a temp folder beside DIR, drop a single top-level folder, move the content into
# DIR, then mark DIR/.extracted-<archive name>; skipped when the mark exists.
extract() {
  local archive="$1" dir="$2" mark tmp top
  mark="$dir/.extracted-$(basename "$archive")"
  if [ -e "$mark" ]; then
    echo "skip   extracting $(basename "$archive") (done)"
    return 0
  fi
  if [ "$dry_run" = 1 ]; then
    echo "unpack $archive -> $dir/"
    return 0
  fi
  echo "unpack $archive -> $dir/"
  mkdir -p "$dir"
  tmp="$(mktemp -d "$dir/.unpack.XXXXXX")"
  case "$archive" in
    *.zip) python3 -m zipfile -e "$archive" "$tmp" ;;
    *) tar -xzf "$archive" -C "$tmp" ;;
  esac
  top="$tmp"
  if [ "$(find "$tmp" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ] && [ -d "$(find "$tmp" -mindepth 1 -maxdepth 1)" ]; then
    top="$(find "$tmp" -mindepth 1 -maxdepth 1)"
  fi
  # moment_detr_features.tar.gz unpacks to features/...; keep that name as the configs expect
  case "$(basename "$archive")" in
    moment_detr_features*) mkdir -p "$dir/features"; cp -al "$top"/. "$dir/features/" 2>/dev/null || cp -a "$top"/. "$dir/features/" ;;
    *) cp -al "$top"/. "$dir/" 2>/dev/null || cp -a "$top"/. "$dir/" ;;
  esac
  rm -rf "$tmp"
  touch "$mark"
}

echo "destination: $dest"
if [ "$want_annotations" = 1 ]; then
  if has_dataset qvhighlights; then
    for f in highlight_train_release.jsonl highlight_val_release.jsonl highlight_test_release.jsonl \
             highlight_test_with_gt.jsonl LICENSE; do
      fetch "$MOMENT_DETR_RAW/$f" "$dest/qvhighlights/$f"
    done
  fi
  if has_dataset charades; then
    for split in train val; do
      f="charades_sta_${split}_tvr_format.jsonl"
      fetch "$TR_DETR_RAW/charades/$f" "$dest/charades_sta/$f"
    done
  fi
  if has_dataset tvsum; then
    for split in train val; do
      fetch "$TR_DETR_RAW/tvsum/tvsum_$split.jsonl" "$dest/tvsum/tvsum_$split.jsonl"
    done
  fi
fi

if [ "$want_features" = 1 ]; then
  if has_dataset qvhighlights; then
    fetch_gdrive "$QVH_FEATURES_GDRIVE_ID" "$dest/archives/moment_detr_features.tar.gz"
    extract "$dest/archives/moment_detr_features.tar.gz" "$dest/qvhighlights"
  fi
  if has_dataset tvsum; then
    fetch "$TVSUM_FEATURES_URL" "$dest/archives/tvsum-ec05ad4e.zip"
    extract "$dest/archives/tvsum-ec05ad4e.zip" "$dest/tvsum"
  fi
  if has_dataset charades; then
    echo "note   Charades-STA: no official SlowFast+CLIP feature archive is published; extract features from the"
    echo "       videos with 'python -m trdetr_cap.extract' into $dest/charades_sta/features/ (see its --help)"
  fi
fi
if [ "$want_videos" = 1 ]; then
  if has_dataset qvhighlights; then
    fetch "$QVH_VIDEOS_URL" "$dest/archives/qvhilights_videos.tar.gz"
    extract "$dest/archives/qvhilights_videos.tar.gz" "$dest/qvhighlights/videos"
  fi
  if has_dataset charades; then
    echo "note   Charades-STA videos: Charades v1 (480p) from https://prior.allenai.org/projects/charades (licence"
    echo "       acceptance required); put the .mp4 files in $dest/charades_sta/videos/"
  fi
  if has_dataset tvsum; then
    echo "note   TVSum videos: ydata-tvsum50 from https://github.com/yalesong/tvsum; put them in $dest/tvsum/videos/"
  fi
fi
echo "done"
