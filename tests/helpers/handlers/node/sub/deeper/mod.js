exports.go = async () => "from sub/deeper";
