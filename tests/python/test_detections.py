"""The analysis elements' results read from Python (PyGObject with the
python3-gst-1.0 overrides, which read GstValueList)."""


# cvmotion's element messages on vtest.avi (played as fast as it decodes:
# every frame is analysed) carry motion regions inside the picture.
def test_cvmotion_messages_carry_motion_regions(require_elements, sample_data,
                                                run_to_eos):
    require_elements("cvmotion")
    _, messages = run_to_eos(
        f"filesrc location={sample_data / 'vtest.avi'} ! decodebin "
        "! videoconvert ! video/x-raw,format=GRAY8 "
        "! cvmotion analysis-width=384 ! fakesink sync=false")
    motion = [s for s in messages if s.get_name() == "cvmotion"]
    regions = 0
    for structure in motion:
        for detection in structure.get_value("detections"):
            assert detection.get_value("label") == "motion"
            assert 0 <= detection.get_value("x") < 768
            assert detection.get_value("width") > 0
            regions += 1
    assert len(motion) > 100, len(motion)
    assert regions > len(motion) // 2, (regions, len(motion))
    print(f"{len(motion)} cvmotion messages, {regions} motion regions")
