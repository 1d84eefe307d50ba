import pytest

from telephony.sdp import (
    MediaDescription,
    NoCommonCodec,
    SdpError,
    SessionDescription,
    answer_offer,
    audio_address,
    build_offer,
    codec_of,
    hold_offer,
    is_hold,
    parse_sdp,
    process_answer,
    reoffer,
    resume_offer,
    sdp_changed,
)

SIPP_UAC = (
    "v=0\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1\n"
    "s=-\n"
    "c=IN IP4 127.0.0.1\n"
    "t=0 0\n"
    "m=audio 6000 RTP/AVP 0\n"
    "a=rtpmap:0 PCMU/8000\n"
)

BARESIP = (
    "v=0\r\n"
    "o=- 1683436006 3196224417 IN IP4 192.168.1.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.168.1.10\r\n"
    "t=0 0\r\n"
    "m=audio 10942 RTP/AVP 111 9 0 8 101\r\n"
    "b=AS:64\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 stereo=1;sprop-stereo=1\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=rtcp-mux\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
    "a=label:1\r\n"
)

WITH_VIDEO = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n"
    "s=\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=video 51372 RTP/AVP 99\r\n"
    "a=rtpmap:99 H264/90000\r\n"
    "m=audio 49170 RTP/AVP 8 0 96\r\n"
    "c=IN IP4 192.0.2.55\r\n"
    "a=rtpmap:96 telephone-event/8000\r\n"
    "a=fmtp:96 0-16\r\n"
    "a=maxptime:150\r\n"
    "a=rtcp:49171\r\n"
)


# ------------------------------------------------------------------ parsing


def test_parse_sipp_lf_only():
    sd = parse_sdp(SIPP_UAC.encode())
    assert (sd.username, sd.sess_id, sd.sess_version) == ("user1", 53655765, 2353687637)
    assert (sd.nettype, sd.addrtype, sd.address) == ("IN", "IP4", "127.0.0.1")
    assert sd.connection == "127.0.0.1"
    assert len(sd.media) == 1
    m = sd.media[0]
    assert (m.media, m.port, m.proto, m.formats) == ("audio", 6000, "RTP/AVP", [0])
    assert m.rtpmap == {0: ("PCMU", 8000, None)}
    assert m.direction == "sendrecv"
    assert audio_address(sd) == ("127.0.0.1", 6000)


def test_parse_baresip_many_codecs():
    sd = parse_sdp(BARESIP)
    m = sd.media[0]
    assert m.formats == [111, 9, 0, 8, 101]
    assert m.rtpmap[111] == ("opus", 48000, 2)
    assert m.fmtp == {111: "stereo=1;sprop-stereo=1", 101: "0-15"}
    assert m.ptime == 20
    assert ("rtcp-mux", None) in m.attributes
    assert ("label", "1") in m.attributes
    assert ("b", "AS:64") in m.extra


def test_media_connection_overrides_session_and_other_attributes():
    sd = parse_sdp(WITH_VIDEO)
    assert sd.session_name == ""
    assert audio_address(sd) == ("192.0.2.55", 49170)
    audio = sd.media[1]
    assert ("maxptime", "150") in audio.attributes
    assert ("rtcp", "49171") in audio.attributes


def test_static_payload_types_known_without_rtpmap():
    sd = parse_sdp("v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 4000 RTP/AVP 8 0 18 97\n")
    m = sd.media[0]
    assert codec_of(m, 8) == ("PCMA", 8000, 1)
    assert codec_of(m, 0) == ("PCMU", 8000, 1)
    assert codec_of(m, 18)[0] == "G729"
    assert codec_of(m, 97) is None  # dynamic without rtpmap is unnamed


def test_session_level_direction_inherited():
    sd = parse_sdp(SIPP_UAC.replace("t=0 0\n", "t=0 0\na=sendonly\n"))
    assert sd.media[0].direction == "sendonly"
    sd = parse_sdp(SIPP_UAC.replace("t=0 0\n", "t=0 0\na=sendonly\n") + "a=recvonly\n")
    assert sd.media[0].direction == "recvonly"  # media level wins


def test_unknown_lines_tolerated_and_kept():
    text = SIPP_UAC.replace("s=-\n", "s=-\ni=info\nu=http://x\nx=whatever\n") + "a=x-custom:1 2\nk=clear:foo\n"
    sd = parse_sdp(text)
    assert ("i", "info") in sd.extra and ("x", "whatever") in sd.extra
    assert ("x-custom", "1 2") in sd.media[0].attributes
    assert ("k", "clear:foo") in sd.media[0].extra


def test_non_rtp_formats_tokens():
    sd = parse_sdp(SIPP_UAC + "m=image 0 udptl t38\n")
    assert sd.media[1].format_tokens == ["t38"]
    assert b"m=image 0 udptl t38\r\n" in sd.to_bytes()


@pytest.mark.parametrize("text", [SIPP_UAC, BARESIP, WITH_VIDEO])
def test_round_trip(text):
    sd = parse_sdp(text)
    data = sd.to_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert data.startswith(b"v=0\r\no=")
    again = parse_sdp(data)
    assert again.to_bytes() == data
    if not sd.session_name:
        assert again.session_name == "-"  # empty s= is invalid (RFC 4566 §5.3); normalised
        sd.session_name = "-"
    assert again == sd


def test_to_bytes_line_order():
    lines = parse_sdp(WITH_VIDEO).to_bytes().decode().split("\r\n")
    types = [ln[0] for ln in lines if ln]
    assert types[:5] == ["v", "o", "s", "c", "t"]
    audio = lines.index("m=audio 49170 RTP/AVP 8 0 96")
    assert lines[audio + 1] == "c=IN IP4 192.0.2.55"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "o=- 1 1 IN IP4 1.2.3.4\nv=0\n",  # v= not first
        "v=1\no=- 1 1 IN IP4 1.2.3.4\n",  # unknown version
        "v=0\ns=-\n",  # no o=
        "v=0\no=- 1 1 IN IP4\n",  # short o=
        "v=0\no=- abc 1 IN IP4 1.2.3.4\n",  # non-numeric sess-id
        "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio\n",  # short m=
        "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio abc RTP/AVP 0\n",  # non-numeric port
        "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 70000 RTP/AVP 0\n",  # port out of range
        "v=0\no=- 1 1 IN IP4 1.2.3.4\nc=IN IP4\n",  # short c=
        "v=0\no=- 1 1 IN IP4 1.2.3.4\nthis is not sdp\n",
    ],
)
def test_malformed(text):
    with pytest.raises(SdpError):
        parse_sdp(text)


def test_sdp_error_is_value_error():
    assert issubclass(SdpError, ValueError)
    assert issubclass(NoCommonCodec, SdpError)


# ------------------------------------------------------------------ offers


def test_build_offer():
    sd = build_offer("10.0.0.1", 4000, session_id=42, version=7)
    assert (sd.sess_id, sd.sess_version, sd.address, sd.connection) == (42, 7, "10.0.0.1", "10.0.0.1")
    m = sd.media[0]
    assert m.formats == [0, 8, 101]
    assert m.rtpmap[101] == ("telephone-event", 8000, None)
    assert m.fmtp[101] == "0-16"
    assert m.direction == "sendrecv"
    assert parse_sdp(sd.to_bytes()) == sd


def test_build_offer_options():
    sd = build_offer("::1", 4000, ["PCMA"], None, "recvonly", 1, 1)
    assert sd.addrtype == "IP6"
    assert b"c=IN IP6 ::1" in sd.to_bytes()
    assert sd.media[0].formats == [8]
    assert sd.media[0].direction == "recvonly"
    with pytest.raises(SdpError):
        build_offer("10.0.0.1", 4000, ["G729"])
    with pytest.raises(SdpError):
        build_offer("10.0.0.1", 4000, direction="sideways")


# ------------------------------------------------------------------ answers


def test_answer_sipp_pcmu():
    answer, neg = answer_offer(parse_sdp(SIPP_UAC), "10.0.0.2", 20000, session_id=5, version=1)
    assert (neg.codec_name, neg.payload_type, neg.dtmf_pt) == ("PCMU", 0, None)
    assert (neg.remote_ip, neg.remote_port) == ("127.0.0.1", 6000)
    assert neg.local_direction == "sendrecv"
    m = answer.media[0]
    assert (m.port, m.formats, m.direction) == (20000, [0], "sendrecv")
    assert answer.connection == "10.0.0.2"


def test_answer_baresip_picks_first_supported_and_keeps_dtmf_pt():
    answer, neg = answer_offer(parse_sdp(BARESIP), "10.0.0.2", 20000)
    assert neg.codec_name == "PCMU"  # opus and G722 skipped, PCMU before PCMA
    assert neg.dtmf_pt == 101
    assert neg.ptime == 20
    m = answer.media[0]
    assert m.formats == [0, 101]
    assert m.fmtp[101] == "0-15"
    assert ("rtcp-mux", None) not in m.attributes


def test_answer_respects_offerer_order_and_supported_list():
    offer = parse_sdp(WITH_VIDEO)
    _, neg = answer_offer(offer, "10.0.0.2", 20000)
    assert (neg.codec_name, neg.payload_type, neg.dtmf_pt) == ("PCMA", 8, 96)
    _, neg = answer_offer(offer, "10.0.0.2", 20000, supported=["PCMU"])
    assert (neg.codec_name, neg.payload_type) == ("PCMU", 0)


def test_answer_dynamic_pcmu_numbering():
    offer = parse_sdp(
        "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\n"
        "m=audio 4000 RTP/AVP 98 100\na=rtpmap:98 pcma/8000\na=rtpmap:100 telephone-event/8000\n"
    )
    answer, neg = answer_offer(offer, "10.0.0.2", 20000)
    assert (neg.codec_name, neg.payload_type, neg.dtmf_pt) == ("PCMA", 98, 100)
    assert answer.media[0].rtpmap[98] == ("PCMA", 8000, None)


def test_answer_rejects_video_keeping_order():
    offer = parse_sdp(WITH_VIDEO)
    answer, neg = answer_offer(offer, "10.0.0.2", 20000)
    assert [m.media for m in answer.media] == ["video", "audio"]
    video, audio = answer.media
    assert video.port == 0 and video.proto == "RTP/AVP" and video.formats == [99]
    assert audio.port == 20000
    assert neg.media_index == 1
    assert parse_sdp(answer.to_bytes()) == answer


def test_answer_rejects_second_audio_and_srtp():
    offer = parse_sdp(
        "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\n"
        "m=audio 4000 RTP/SAVP 0\n"
        "m=audio 4002 RTP/AVP 0\n"
        "m=audio 4004 RTP/AVP 8\n"
    )
    answer, neg = answer_offer(offer, "10.0.0.2", 20000)
    assert [m.port for m in answer.media] == [0, 20000, 0]
    assert neg.remote_port == 4002


def test_no_common_codec():
    offer = parse_sdp(BARESIP.replace("111 9 0 8 101", "111 9 101"))
    with pytest.raises(SdpError, match="no common codec"):
        answer_offer(offer, "10.0.0.2", 20000)
    with pytest.raises(NoCommonCodec):
        answer_offer(parse_sdp(SIPP_UAC.replace("m=audio", "m=video")), "10.0.0.2", 20000)
    # Stereo or wideband variants of a known name don't count.
    offer = parse_sdp(SIPP_UAC.replace("RTP/AVP 0\na=rtpmap:0 PCMU/8000", "RTP/AVP 97\na=rtpmap:97 PCMU/16000"))
    with pytest.raises(NoCommonCodec):
        answer_offer(offer, "10.0.0.2", 20000)


def test_t_line_copied_into_answer():
    answer, _ = answer_offer(parse_sdp(SIPP_UAC.replace("t=0 0", "t=3034423619 0")), "10.0.0.2", 1)
    assert answer.timing == "3034423619 0"


@pytest.mark.parametrize(
    "remote,ours,ours_holding",
    [
        ("sendrecv", "sendrecv", "sendonly"),
        ("sendonly", "recvonly", "inactive"),
        ("recvonly", "sendonly", "sendonly"),
        ("inactive", "inactive", "inactive"),
    ],
)
def test_direction_mirroring(remote, ours, ours_holding):
    offer = parse_sdp(SIPP_UAC + f"a={remote}\n")
    answer, neg = answer_offer(offer, "10.0.0.2", 20000)
    assert answer.media[0].direction == ours == neg.local_direction
    assert neg.remote_direction == remote
    answer, neg = answer_offer(offer, "10.0.0.2", 20000, hold=True)
    assert answer.media[0].direction == ours_holding == neg.local_direction


def test_rfc2543_hold_offer_means_we_do_not_send():
    offer = parse_sdp(SIPP_UAC.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"))
    assert is_hold(offer)
    answer, neg = answer_offer(offer, "10.0.0.2", 20000)
    assert neg.remote_hold
    assert not neg.may_send
    assert neg.local_direction == "recvonly"
    assert neg.remote_ip == "0.0.0.0"


# ------------------------------------------------------------------ process_answer


def test_process_answer_roundtrip():
    offer = build_offer("10.0.0.1", 4000, ["PCMA", "PCMU"], session_id=1, version=1)
    answer, _ = answer_offer(parse_sdp(offer.to_bytes()), "10.0.0.2", 5000, supported=["PCMU"])
    neg = process_answer(offer, parse_sdp(answer.to_bytes()))
    assert (neg.codec_name, neg.payload_type, neg.dtmf_pt) == ("PCMU", 0, 101)
    assert (neg.remote_ip, neg.remote_port) == ("10.0.0.2", 5000)
    assert neg.local_direction == "sendrecv"


def test_process_answer_picks_answerers_first_choice_and_numbering():
    offer = build_offer("10.0.0.1", 4000, session_id=1, version=1)
    answer = parse_sdp(
        "v=0\no=- 9 9 IN IP4 10.0.0.2\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\n"
        "m=audio 5000 RTP/AVP 8 0 96\na=rtpmap:96 telephone-event/8000\na=sendrecv\n"
    )
    neg = process_answer(offer, answer)
    assert (neg.codec_name, neg.payload_type, neg.dtmf_pt) == ("PCMA", 8, 96)


def test_process_answer_without_dtmf():
    offer = build_offer("10.0.0.1", 4000, session_id=1, version=1)
    neg = process_answer(offer, parse_sdp(SIPP_UAC))
    assert neg.dtmf_pt is None
    assert neg.codec_name == "PCMU"


def test_process_answer_directions():
    offer = build_offer("10.0.0.1", 4000, session_id=1, version=1)
    assert process_answer(offer, parse_sdp(SIPP_UAC + "a=recvonly\n")).local_direction == "sendonly"
    assert process_answer(offer, parse_sdp(SIPP_UAC + "a=inactive\n")).local_direction == "inactive"
    held = hold_offer(offer)
    assert process_answer(held, parse_sdp(SIPP_UAC + "a=recvonly\n")).local_direction == "sendonly"
    assert process_answer(held, parse_sdp(SIPP_UAC + "a=inactive\n")).local_direction == "inactive"


def test_process_answer_errors():
    offer = build_offer("10.0.0.1", 4000, session_id=1, version=1)
    with pytest.raises(SdpError, match="number of m= lines"):
        process_answer(offer, parse_sdp(WITH_VIDEO))
    with pytest.raises(NoCommonCodec):
        process_answer(offer, parse_sdp(SIPP_UAC.replace("m=audio 6000", "m=audio 0")))
    with pytest.raises(NoCommonCodec):
        process_answer(offer, parse_sdp(BARESIP.replace("111 9 0 8 101", "111 9")))
    with pytest.raises(SdpError):
        process_answer(offer, parse_sdp(SIPP_UAC.replace("m=audio", "m=video")))


# ------------------------------------------------------------------ hold / re-offers


def test_hold_and_resume_offers():
    offer = build_offer("10.0.0.1", 4000, session_id=1, version=1)
    assert not is_hold(offer)
    held = hold_offer(offer)
    assert held.sess_version == 2 and held.sess_id == 1
    assert held.media[0].direction == "sendonly"
    assert is_hold(held)
    assert offer.media[0].direction == "sendrecv"  # original untouched
    resumed = resume_offer(held)
    assert resumed.sess_version == 3
    assert resumed.media[0].direction == "sendrecv"
    assert not is_hold(resumed)
    assert sdp_changed(offer, held) and not sdp_changed(held, parse_sdp(held.to_bytes()))
    # Holding a recvonly stream leaves nothing: inactive (RFC 3264 §8.4).
    assert hold_offer(build_offer("10.0.0.1", 4000, direction="recvonly")).media[0].direction == "inactive"
    assert reoffer(offer, port=4010).media[0].port == 4010


@pytest.mark.parametrize(
    "extra,expected",
    [("", False), ("a=sendonly\n", True), ("a=inactive\n", True), ("a=recvonly\n", False), ("a=sendrecv\n", False)],
)
def test_is_hold(extra, expected):
    assert is_hold(parse_sdp(SIPP_UAC + extra)) is expected


def test_is_hold_connection_zero_media_level():
    sd = parse_sdp(SIPP_UAC + "c=IN IP4 0.0.0.0\n")
    assert is_hold(sd)
    assert audio_address(sd) == ("0.0.0.0", 6000)


def test_audio_address_errors():
    with pytest.raises(SdpError):
        audio_address(parse_sdp("v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\n"))
    with pytest.raises(SdpError):
        audio_address(parse_sdp("v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n"))


def test_dataclasses_constructible_directly():
    sd = SessionDescription(sess_id=1, sess_version=1, address="1.2.3.4", connection="1.2.3.4",
                            media=[MediaDescription(port=4000, formats=[0])])
    assert parse_sdp(sd.to_bytes()).media[0].formats == [0]
