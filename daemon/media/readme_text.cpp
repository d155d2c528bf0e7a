#include <daemon/media/readme_text.hpp>

namespace medgw::media {
namespace {

std::string crlf(const std::string& text) {
  std::string out = "\xEF\xBB\xBF";  // BOM: older Notepad then reads UTF-8
  for (char c : text) {
    if (c == '\n') out += "\r";
    out += c;
  }
  return out;
}

std::string origin_ja(const ReadmeFacts& f) {
  return f.origin == "backup" ? "バックアップ（スナップショット " + f.snapshot + "）" : std::string("病院の SS-MIX2 標準化ストレージ（稼働中のもの）");
}

std::string origin_en(const ReadmeFacts& f) {
  return f.origin == "backup" ? "a backup (snapshot " + f.snapshot + ")" : std::string("the hospital's live SS-MIX2 storage");
}

std::string japanese(const ReadmeFacts& f) {
  std::string t;
  t += "■ 災害時用 SS-MIX2 ビューア媒体  " + f.title + "\n\n";
  t += "この媒体は、病院の電子カルテが使えない時（地震・水害・サイバー攻撃など）に、\n"
       "患者さんのアレルギー、処方・注射、検査結果、病名、入退院歴などを\n"
       "ネットワークのない PC のブラウザで参照するためのものです。\n\n";
  t += "【開き方】\n"
       "  1. INDEX.HTM をダブルクリックします（Chrome、Edge、Firefox など。インターネット接続は不要です）。\n";
  if (f.encrypted) {
    t += "  2. 受け取ったパスフレーズを入力します。パスフレーズはこの媒体とは別に渡されています。\n"
         "     パスフレーズが違うと「パスフレーズが違います」と表示されます。\n";
  }
  t += "  3. 患者 ID、氏名（漢字・カナ・ひらがな）、生年月日で検索します。\n"
       "  4. 患者ごとの「緊急時サマリー」は 1 ページに印刷できます。\n\n";
  t += "【媒体の中身】\n"
       "  INDEX.HTM      ビューア（これを開きます）\n"
       "  VIEWER\\        ビューアのプログラム（HTML・CSS・JavaScript）\n";
  t += f.encrypted ? "  DATA\\          患者データ（AES-256-GCM で暗号化、ファイル名に患者情報は含みません）\n"
                     "  SSMIX2.TAR.AGE 元の SS-MIX2 ストレージそのもの（age で暗号化した tar）\n"
                   : "  DATA\\          患者データ（暗号化なし）\n"
                     "  SSMIX2\\        元の SS-MIX2 ストレージそのもの（暗号化なし）\n";
  t += "  MANIFEST.JSON  全ファイルの SHA-256 と作成元（MANIFEST.SIG はゲートウェイの電子署名）\n\n";
  if (!f.encrypted) {
    t += "【注意】この媒体は暗号化されていません（作成者が --no-encrypt を明示して作成しました）。\n"
         "  患者情報がそのまま読めます。紛失・盗難に十分注意し、用が済んだら確実に破棄してください。\n\n";
  } else {
    t += "【元データの復元（情報システム担当者向け）】\n"
         "  age -d -o ssmix2.tar SSMIX2.TAR.AGE   （パスフレーズを入力）\n"
         "  tar -xf ssmix2.tar                    （ストレージがフォルダとして戻ります）\n\n";
  }
  t += "【作成】 " + f.facility + "  " + f.created + "\n"
       "  作成元: " + origin_ja(f) + "\n"
       "  作成ソフトウェア: medgw " + f.medgw_version + "  署名鍵: " + f.signer + "\n\n";
  return t;
}

std::string english(const ReadmeFacts& f) {
  std::string t;
  t += "== SS-MIX2 viewer media for disasters  " + f.title + "\n\n";
  t += "This medium lets staff look up patients' allergies, prescriptions and injections,\n"
       "lab results, diagnoses and admissions in a web browser on any PC, with no network,\n"
       "while the hospital's systems are down (earthquake, flood, ransomware...).\n\n";
  t += "HOW TO OPEN\n"
       "  1. Double-click INDEX.HTM (Chrome, Edge, Firefox...; no Internet connection needed).\n";
  if (f.encrypted) {
    t += "  2. Enter the passphrase, which was handed over separately from this medium.\n"
         "     A wrong passphrase is reported as such.\n";
  }
  t += "  3. Search by patient ID, name (kanji, katakana, hiragana) or birth date.\n"
       "  4. Each patient's emergency summary prints on one page.\n\n";
  t += "CONTENTS\n"
       "  INDEX.HTM      the viewer (open this)\n"
       "  VIEWER/        the viewer's HTML, CSS and JavaScript\n";
  t += f.encrypted ? "  DATA/          patient data, encrypted (AES-256-GCM); file names carry no patient data\n"
                     "  SSMIX2.TAR.AGE the SS-MIX2 storage itself, a tar encrypted with age\n"
                   : "  DATA/          patient data, NOT encrypted\n"
                     "  SSMIX2/        the SS-MIX2 storage itself, NOT encrypted\n";
  t += "  MANIFEST.JSON  SHA-256 of every file and where it came from; MANIFEST.SIG is the\n"
       "                 gateway's Ed25519 signature (check: medgw export-media --verify PATH)\n\n";
  if (!f.encrypted) {
    t += "WARNING: this medium is NOT encrypted (its maker asked for --no-encrypt explicitly).\n"
         "  Anyone holding it can read the patients' data. Keep it safe and destroy it after use.\n\n";
  } else {
    t += "RESTORING THE STORAGE (IT staff)\n"
         "  age -d -o ssmix2.tar SSMIX2.TAR.AGE   (enter the passphrase)\n"
         "  tar -xf ssmix2.tar                    (the storage folders come back as they were)\n\n";
  }
  t += "MADE BY " + f.facility + " on " + f.created + "\n"
       "  from " + origin_en(f) + ", " + std::to_string(f.patients) + " patients\n"
       "  with medgw " + f.medgw_version + ", signing key " + f.signer + "\n";
  return t;
}

}  // namespace

std::string readme_text(const ReadmeFacts& facts) { return crlf(japanese(facts) + "\n" + english(facts)); }

}  // namespace medgw::media
